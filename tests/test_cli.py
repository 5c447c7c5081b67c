"""The `signclip-hf` command line: subcommands are listed, bad input ends with one clear line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from signclip_hf.cli import COMMANDS, main


def test_help_lists_every_subcommand():
    done = subprocess.run([sys.executable, "-m", "signclip_hf.cli", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for name in COMMANDS:
        assert name in done.stdout


def test_bad_input_is_one_line_not_a_traceback(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["build-dataset", str(tmp_path / "missing"), "--output", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("signclip-hf build-dataset: error: metadata CSV") and "Traceback" not in error
