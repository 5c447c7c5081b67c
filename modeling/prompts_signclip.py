"""Language-tagged prompts of SignCLIP: `"<{spoken ISO 639-1}> <{sign ISO 639-3}> {text}"`, e.g. `"<en> <ase> house"`.

As in the paper (Jiang et al., EMNLP 2024, §3). The tags are plain text for the tokenizer (not added tokens);
`validate_prompt` checks that any leading tags are real language codes, so that a typo such as `<asl>` fails
loudly instead of scoring quietly, and `warn_if_untagged` says once when prompts carry no tags at all.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence

SPOKEN_LANGUAGES = frozenset(
    "aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el "
    "en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it "
    "iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt "
    "my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl "
    "sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo "
    "za zh zu".split()
)
SIGN_LANGUAGES = {
    "aed": "Argentine Sign Language", "ase": "American Sign Language", "asf": "Auslan",
    "bfi": "British Sign Language", "bqn": "Bulgarian Sign Language", "bvl": "Bolivian Sign Language",
    "bzs": "Brazilian Sign Language (Libras)", "cse": "Czech Sign Language", "csf": "Cuba Sign Language",
    "csg": "Chilean Sign Language", "csl": "Chinese Sign Language", "csn": "Colombian Sign Language",
    "csq": "Croatian Sign Language", "dse": "Sign Language of the Netherlands", "dsl": "Danish Sign Language",
    "ecs": "Ecuadorian Sign Language", "esl": "Egyptian Sign Language", "eso": "Estonian Sign Language",
    "fcs": "Quebec Sign Language", "fse": "Finnish Sign Language", "fsl": "French Sign Language",
    "gsg": "German Sign Language", "gsm": "Guatemalan Sign Language", "gss": "Greek Sign Language",
    "hks": "Hong Kong Sign Language", "hsh": "Hungarian Sign Language", "icl": "Icelandic Sign Language",
    "ils": "International Sign", "ins": "Indian Sign Language", "ise": "Italian Sign Language",
    "isg": "Irish Sign Language", "isr": "Israeli Sign Language", "jos": "Jordanian Sign Language",
    "jsl": "Japanese Sign Language", "kvk": "Korean Sign Language", "lls": "Lithuanian Sign Language",
    "lsl": "Latvian Sign Language", "mdl": "Maltese Sign Language", "mfs": "Mexican Sign Language",
    "nsi": "Nigerian Sign Language", "nsl": "Norwegian Sign Language", "nzs": "New Zealand Sign Language",
    "pks": "Pakistan Sign Language", "prl": "Peruvian Sign Language", "pso": "Polish Sign Language",
    "psr": "Portuguese Sign Language", "rms": "Romanian Sign Language", "rsl": "Russian Sign Language",
    "sdl": "Saudi Arabian Sign Language", "sfb": "French Belgian Sign Language",
    "sfs": "South African Sign Language", "sgg": "Swiss-German Sign Language", "slf": "Swiss-Italian Sign Language",
    "sqs": "Sri Lankan Sign Language", "ssp": "Spanish Sign Language", "ssr": "Swiss-French Sign Language",
    "svk": "Slovakian Sign Language", "swl": "Swedish Sign Language", "tse": "Tunisian Sign Language",
    "tsm": "Turkish Sign Language", "tsq": "Thai Sign Language", "tss": "Taiwan Sign Language",
    "ukl": "Ukrainian Sign Language", "vgt": "Flemish Sign Language", "vsl": "Venezuelan Sign Language",
    "ysl": "Yugoslavian Sign Language",
}  # fmt: skip
_LEADING_TAGS = re.compile(r"^\s*<([^<>\s]*)>\s*<([^<>\s]*)>")


class UnknownLanguageError(ValueError):
    """A prompt tag that is not an ISO 639-1 spoken or a known ISO 639-3 sign language code."""


def _shown(code) -> str:
    """A tag as it can be printed: itself when printable UTF-8, else its repr (a lone surrogate, a non-string)."""
    if isinstance(code, str) and code.isprintable():
        try:
            code.encode("utf-8")
            return code
        except UnicodeEncodeError:
            pass
    return repr(code)


def check_language_codes(spoken_language: str, sign_language: str, prompt: str | None = None) -> None:
    where = f" in prompt {prompt!r}" if prompt is not None else ""
    if spoken_language not in SPOKEN_LANGUAGES:
        raise UnknownLanguageError(
            f"unknown spoken language tag <{_shown(spoken_language)}>{where}: expected an ISO 639-1 code such as <en>"
        )
    if sign_language not in SIGN_LANGUAGES:
        raise UnknownLanguageError(
            f"unknown sign language tag <{_shown(sign_language)}>{where}: expected an ISO 639-3 sign language code "
            f"such as <ase> (American), <gsg> (German), <bfi> (British); known: {', '.join(sorted(SIGN_LANGUAGES))}"
        )


def check_texts(text) -> list[str]:
    """`text` (one string or a sequence of them) as a list of strings that a tokenizer can take.

    Refuses an item that is not a string and a string that is not valid Unicode: a lone surrogate such as
    `"\\udcff"` (how Python decodes a byte that is not UTF-8, e.g. in a command-line argument) cannot be
    encoded as UTF-8, so the tokenizer would fail on it with a bare `TypeError`. Errors name the text (its
    repr) and its position in the list.
    """
    if isinstance(text, str) or not isinstance(text, Iterable) or isinstance(text, (bytes, bytearray, dict)):
        texts = [text]
    else:
        texts = list(text)
    for position, item in enumerate(texts):
        if not isinstance(item, str):
            raise ValueError(f"text {position} is not a string: {type(item).__name__} {item!r:.80}")
        try:
            item.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(
                f"text {position} {item!r:.200} is not valid Unicode (character {error.start}: {error.reason}); "
                "a lone surrogate comes from bytes that are not UTF-8, e.g. a command-line argument in another "
                "encoding"
            ) from None
    return texts


def format_prompt(text: str, spoken_language: str = "en", sign_language: str = "ase") -> str:
    """`format_prompt("house")` -> `"<en> <ase> house"`; codes are validated."""
    check_language_codes(spoken_language, sign_language)
    return f"<{spoken_language}> <{sign_language}> {text}"


def validate_prompt(prompt: str) -> None:
    """Check the leading `<spoken> <sign>` tags of a prompt, if it has them (untagged text is allowed)."""
    match = _LEADING_TAGS.match(prompt)
    if match:
        check_language_codes(match.group(1), match.group(2), prompt)


def has_tags(prompt: str) -> bool:
    """True when the prompt starts with `<spoken> <sign>` tags."""
    return _LEADING_TAGS.match(prompt) is not None


def strip_tags(prompt: str) -> str:
    """The text of a prompt without its leading tags (`"<en> <ase> house"` -> `"house"`)."""
    return _LEADING_TAGS.sub("", prompt, count=1).strip()


def prompt_tag(prompt: str) -> str | None:
    """The leading tags of a prompt in canonical form (`"<en>  <ase> house"` -> `"<en> <ase>"`), None if untagged."""
    match = _LEADING_TAGS.match(prompt)
    return f"<{match.group(1)}> <{match.group(2)}>" if match else None


def untagged_warning(prompts: Sequence[str], prompt_tags: Sequence[str]) -> str | None:
    """The warning for the first prompt without language tags (None when every prompt has them)."""
    untagged = next((prompt for prompt in prompts if not has_tags(prompt)), None)
    if untagged is None:
        return None
    tags = ", ".join(repr(tag) for tag in prompt_tags)
    example = f"{prompt_tags[0]} {untagged}" if prompt_tags else f"<en> <ase> {untagged}"
    return (
        f"prompt {untagged!r} has no language tags, but this model was trained with prompts tagged {tags}: "
        f"write {example!r} (`processor.format_prompt(text, spoken_language, sign_language)`). This warning is shown "
        "once per processor."
    )


def warn_if_untagged(prompts: Sequence[str], prompt_tags: Sequence[str]) -> bool:
    """Warn (UserWarning) when a prompt has no language tags; True when it warned."""
    message = untagged_warning(prompts, prompt_tags)
    if message is not None:
        warnings.warn(message, UserWarning, stacklevel=3)
    return message is not None


__all__ = [
    "SIGN_LANGUAGES",
    "SPOKEN_LANGUAGES",
    "UnknownLanguageError",
    "check_language_codes",
    "check_texts",
    "format_prompt",
    "has_tags",
    "prompt_tag",
    "strip_tags",
    "validate_prompt",
    "warn_if_untagged",
]
