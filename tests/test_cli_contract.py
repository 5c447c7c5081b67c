"""The CLI contract of `signclip_hf/cli.py`, checked on every subcommand's parser, and the README against them."""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from signclip_hf import cli

ROOT = Path(__file__).resolve().parents[1]
HELP_SECONDS = 2.0  # a bound, not a benchmark: help imports no library code
MAIN_ARTIFACT_NAMES = ("--json", "--out", "--output-dir", "--output-file", "--save", "--results")
# one option name, one meaning: these mean something else than where they belong
RESERVED = {"--max-frames": {"convert"}}


def _parsers():
    return {name: cli.command_parser(name)[0] for name in cli.COMMANDS}


PARSERS = _parsers()


def _options(parser: argparse.ArgumentParser):
    return [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_option_has_help_and_no_hand_written_default(command):
    parser = PARSERS[command]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help and action.help.strip(), f"{command} {name}: no help line"
        assert "(default" not in action.help.lower(), f"{command} {name}: the formatter shows the default"
    assert (cli.command_help(__import__(cli.COMMANDS[command], fromlist=["_"])) or "").strip(), command
    shown = parser.format_help()
    assert len(re.findall(r"\(default:\s", shown)) == sum(
        1 for a in _options(parser) if not (a.default is None or a.default is False or a.default in ("", [], ()))
    ), f"{command}: each default shown exactly once (0 too)"


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_model_and_dataset_are_positional_and_one_name_per_meaning(command):
    parser = PARSERS[command]
    for action in _options(parser):
        assert action.dest not in ("model", "dataset"), f"{command}: {action.option_strings} must be positional"
        assert not set(action.option_strings) & set(MAIN_ARTIFACT_NAMES), f"{command}: the main artifact is --output"
        for flag in action.option_strings:
            assert command in RESERVED.get(flag, {command}), f"{command}: {flag} means something else elsewhere"
        if "--top-k" in action.option_strings:
            assert action.default == cli.DEFAULT_TOP_K, f"{command}: --top-k default"
        if "--query" in action.option_strings:
            assert isinstance(action, argparse._AppendAction), f"{command}: --query is repeatable"
        if "--text" in action.option_strings:
            pytest.fail(f"{command}: text queries are --query")
    positional = {a.dest: a.metavar for a in parser._actions if not a.option_strings}
    for dest, metavar in (("model", "MODEL"), ("dataset", "DATASET")):
        if dest in positional:
            assert positional[dest] == metavar, f"{command}: {dest} is shown as {metavar}"


def test_choices_spelled_in_command_modules_match_the_library():
    """Command modules import no library code at their top, so they spell some choices out: the same ones."""
    from signclip_hf.commands import build_dataset, evaluate, index, synthesize_recording
    from signclip_hf.data import build
    from signclip_hf.evaluation.run import PROTOCOLS
    from signclip_hf.search.index import KINDS, IndexConfig
    from signclip_hf.spotting.synthetic import PAUSES

    assert build_dataset.ON_DUPLICATE == build.ON_DUPLICATE and build_dataset.ON_EMPTY_LABEL == build.ON_EMPTY_LABEL
    assert evaluate.TASKS == tuple(PROTOCOLS) and index.KINDS == KINDS and synthesize_recording.PAUSES == PAUSES
    defaults = PARSERS["index"].parse_args(["MODEL", "DATASET", "--output", "x"])
    config = IndexConfig()
    for name in ("kind", "nlist", "nprobe", "hnsw_m", "ef_construction", "ef_search"):
        assert getattr(defaults, name) == getattr(config, name), name
    built = PARSERS["build-dataset"].parse_args(["ROOT", "--output", "x"])
    for name, value in vars(build.BuildConfig()).items():
        if hasattr(built, name):
            assert getattr(built, name) == value, name


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_command_modules_import_only_the_standard_library_and_cli_at_their_top(command):
    import ast
    import importlib.util

    path = Path(importlib.util.find_spec(cli.COMMANDS[command]).origin)
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                assert node.level == 2 and node.module is None and [a.name for a in node.names] == ["cli"], command
                continue
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top == "__future__", f"{command}: imports {name} at its top"


def _seconds(argv: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "signclip_hf.cli", *argv], capture_output=True, text=True, check=False)
    return time.perf_counter() - started, done


@pytest.mark.parametrize("command", [None, *sorted(cli.COMMANDS)])
def test_help_answers_in_under_two_seconds(command):
    seconds, done = _seconds([command, "--help"] if command else ["--help"])
    assert done.returncode == 0, done.stderr
    assert "usage: signclip-hf" in done.stdout
    assert seconds < HELP_SECONDS, f"signclip-hf {command or ''} --help took {seconds:.2f} s"


# --- the README's commands, parsed by their subcommand's parser ---------------------------------------------------


def _shell_blocks(text: str) -> list[str]:
    """The text of every ```bash / ```sh / ``` code block (fences read line by line)."""
    blocks, language, lines = [], None, []
    for line in text.splitlines():
        if line.startswith("```"):
            if language is None:
                language, lines = line[3:].strip() or "sh", []
            else:
                if language in ("bash", "sh", "console"):
                    blocks.append("\n".join(lines))
                language = None
        elif language is not None:
            lines.append(line)
    return blocks


def _code_block_commands(text: str) -> list[str]:
    commands = []
    for block in _shell_blocks(text):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            for segment in line.split(" #")[0].split("&&"):
                segment = segment.strip()
                if segment.startswith("signclip-hf "):
                    commands.append(segment[len("signclip-hf ") :])
                elif "-m signclip_hf.cli " in segment:
                    commands.append(segment.split("-m signclip_hf.cli ", 1)[1])
    return commands


def _table_commands(text: str) -> list[str]:
    section = text.split("## Command line", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `signclip-hf")]
    return [span[len("signclip-hf ") :] for row in rows for span in re.findall(r"`(signclip-hf [^`]+)`", row)]


def _variants(command: str) -> list[list[str]]:
    """argv lists for one README command: brackets dropped (optional parts included), each `a|b` tried."""
    text = command.replace("\\|", "|").replace("[", " ").replace("]", " ")
    tokens = [t for t in shlex.split(text) if t != "..."]
    variants = [tokens]
    for i, token in enumerate(tokens):
        if "|" in token and not token.startswith("<"):
            variants = [v[:i] + [alt] + v[i + 1 :] for v in variants for alt in token.split("|")]
    return variants


README = (ROOT / "README.md").read_text(encoding="utf-8")
README_COMMANDS = sorted(set(_table_commands(README) + _code_block_commands(README)))


def test_readme_lists_every_subcommand():
    listed = {command.split()[0] for command in _table_commands(README)}
    assert listed == set(cli.COMMANDS), (
        f"table lacks {set(cli.COMMANDS) - listed}, has extra {listed - set(cli.COMMANDS)}"
    )


@pytest.mark.parametrize("command", README_COMMANDS)
def test_readme_command_parses(command):
    name = command.split()[0]
    assert name in cli.COMMANDS, f"README: no subcommand {name!r}"
    for argv in _variants(command):
        try:
            PARSERS[name].parse_args(argv[1:])
        except SystemExit:
            pytest.fail(f"README: `signclip-hf {' '.join(argv)}` does not parse")


def test_readme_extraction_fails_on_a_wrong_command():
    """The check can fail: an old-grammar line does not parse."""
    for old in (
        "search INDEX_DIR --text house",
        "render IN.pose OUT.gif --max-frames 10",
        "spot REC --model M --query a",
    ):
        name, *argv = _variants(old)[0]
        with pytest.raises(SystemExit):
            PARSERS[name].parse_args(argv)
    assert "spot signclip-demo/pretrain/final rec.pose --query hello" in " ".join(_code_block_commands(README))
