"""Gloss lists for `signclip-hf export --vocabulary`: one gloss per line, optionally language-tagged.

A line is `house` (tagged with the default languages, `<en> <ase>` unless given) or `<de> <gsg> Haus`;
blank lines and lines starting with `#` are skipped. Tags are checked against the prompt tags SignCLIP
knows (`prompts_signclip.check_language_codes`): an unknown tag is an error naming the file and line.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ..modeling.prompts_signclip import UnknownLanguageError, check_language_codes, format_prompt

_TAGGED = re.compile(r"^<([^<>\s]*)>\s*<([^<>\s]*)>\s*(.*)$")
MAX_VOCABULARY_BYTES = 16 * 1024 * 1024  # a gloss list, not a corpus


@dataclass(frozen=True)
class VocabularyEntry:
    gloss: str
    spoken_language: str
    sign_language: str
    prompt: str


def parse_vocabulary(
    path: str | os.PathLike, spoken_language: str = "en", sign_language: str = "ase"
) -> list[VocabularyEntry]:
    """The entries of a gloss file, in file order; a ValueError naming the file and line for a bad one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"vocabulary file not found: {path}")
    if path.stat().st_size > MAX_VOCABULARY_BYTES:
        size = path.stat().st_size
        raise ValueError(f"{path}: {size} bytes is too large for a gloss list (at most {MAX_VOCABULARY_BYTES})")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text (expected one gloss per line)") from None
    try:
        check_language_codes(spoken_language, sign_language)
    except UnknownLanguageError as error:
        raise UnknownLanguageError(f"{path}: default language tags: {error}") from None
    entries, seen = [], {}
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        spoken, sign, gloss = spoken_language, sign_language, line
        if line.startswith("<"):
            match = _TAGGED.match(line)
            if match is None:
                raise ValueError(f"{path}:{number}: {line!r} starts with '<' but is not '<spoken> <sign> gloss'")
            spoken, sign, gloss = match.group(1), match.group(2), match.group(3).strip()
            try:
                check_language_codes(spoken, sign)
            except UnknownLanguageError as error:
                raise UnknownLanguageError(f"{path}:{number}: {error}") from None
        if not gloss:
            raise ValueError(f"{path}:{number}: {line!r} has language tags but no gloss")
        prompt = format_prompt(gloss, spoken, sign)
        if prompt in seen:
            raise ValueError(f"{path}:{number}: {prompt!r} repeats line {seen[prompt]}")
        seen[prompt] = number
        entries.append(VocabularyEntry(gloss, spoken, sign, prompt))
    if not entries:
        raise ValueError(f"{path}: no glosses (one gloss per line; '#' starts a comment)")
    return entries


def entries_as_dicts(entries: list[VocabularyEntry]) -> list[dict]:
    return [asdict(entry) for entry in entries]


__all__ = ["VocabularyEntry", "entries_as_dicts", "parse_vocabulary"]
