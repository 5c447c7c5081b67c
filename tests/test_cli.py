"""The `signclip-hf` command line: subcommands are listed, bad input ends with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from signclip_hf.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]


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


def _one_line_error(capsys, exit_info, command: str) -> str:
    """The error the CLI printed: exit code 2, one line starting with the subcommand, no traceback."""
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error, error
    assert error.startswith(f"signclip-hf {command}: error: "), error
    return error.strip()


def test_missing_local_model_dir_fails_at_once(tmp_path, capsys, monkeypatch):
    """A path that does not exist is named as such, not looked up on the Hub as a repo id (30 s of retries)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    cases = [
        ["evaluate", str(tmp_path / "signclip-demo" / "pretrain" / "final"), str(tmp_path / "dataset")],
        ["evaluate", "./final", "dataset"],
        ["evaluate", "runs/final", "dataset"],  # a valid repo id, but `runs/` is a local folder
        ["finetune", "../missing-model", "dataset", "--output", str(tmp_path / "islr")],
    ]
    for argv in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        error = _one_line_error(capsys, exit_info, argv[0])
        assert error.endswith(f"error: model directory not found: {argv[1]}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]  # nothing written


def test_malformed_yaml_and_mistyped_overrides_fail_before_training(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {pose_layers: 1\nepochs: 2\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["pretrain", "--config", str(bad)])
    error = _one_line_error(capsys, exit_info, "pretrain")
    assert f"error: {bad}: malformed YAML (line 2, column 7)" in error

    config = str(ROOT / "examples" / "configs" / "pretrain_gestures.yaml")
    output = tmp_path / "run"
    for override, message in [
        ("epochs=abc", "--set epochs=abc: `epochs` must be an integer, got 'abc'"),
        ("optim.lr=fast", "--set optim.lr=fast: `optim.lr` must be a number, got 'fast'"),
        ("optim.betas=[0.9]", "--set optim.betas=[0.9]: `optim.betas` must be a list of 2 numbers, got [0.9]"),
        ("data.length_grouped=3", "--set data.length_grouped=3: `data.length_grouped` must be true/false, got 3"),
        ("max_steps=[1", "--set max_steps=[1: malformed YAML (line 1, column 3)"),
        ("trainer.epochs=1", "--set trainer.epochs=1: `trainer` is not a config section"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(["pretrain", "--config", config, "--set", override, "--output-dir", str(output)])
        assert message in _one_line_error(capsys, exit_info, "pretrain")
    assert not output.exists()  # no dataset built, no config written

    typo = tmp_path / "typo.yaml"
    typo.write_text("model: {from_checkpoint: x}\ndata: {paths: [d]}\nepochs: ten\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["pretrain", "--config", str(typo)])
    assert f"error: {typo}: `epochs` must be an integer, got 'ten'" in _one_line_error(capsys, exit_info, "pretrain")


def test_push_checks_the_local_folder_before_creating_the_repo(hub_env, tmp_path, capsys):
    from huggingface_hub import HfApi

    (tmp_path / "empty").mkdir()
    for folder, message in [
        (tmp_path / "empty", f"{tmp_path / 'empty'}: not a SignCLIP model directory with a processor"),
        (tmp_path / "missing", f"model directory not found: {tmp_path / 'missing'}"),
    ]:
        repo_id = hub_env.new_repo_id("never-created")
        with pytest.raises(SystemExit) as exit_info:
            main(["push", str(folder), repo_id])
        assert message in _one_line_error(capsys, exit_info, "push")
        assert not HfApi().repo_exists(repo_id)
