"""The `signclip-hf` command line: subcommands are listed, bad input ends with one clear line."""

from __future__ import annotations

import subprocess
import sys
import time
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
            main(["pretrain", "--config", config, "--set", override, "--output", str(output)])
        assert message in _one_line_error(capsys, exit_info, "pretrain")
    assert not output.exists()  # no dataset built, no config written

    typo = tmp_path / "typo.yaml"
    typo.write_text("model: {from_checkpoint: x}\ndata: {paths: [d]}\nepochs: ten\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["pretrain", "--config", str(typo)])
    assert f"error: {typo}: `epochs` must be an integer, got 'ten'" in _one_line_error(capsys, exit_info, "pretrain")


def test_finetune_config_and_set_take_any_field_checked_before_anything_runs(tmp_path, capsys):
    """`finetune --config/--set` set any `FinetuneArguments` / `TrainingArguments` field, each checked by name and
    type before the model or the data are read; a flag wins over `--set`, which wins over `--config`."""
    from dataclasses import asdict

    from signclip_hf.cli import command_parser
    from signclip_hf.commands import finetune as command
    from signclip_hf.training.finetune import FinetuneArguments, finetune_arguments, training_defaults

    model, data, output = tmp_path / "model", tmp_path / "data", tmp_path / "out"
    model.mkdir(), data.mkdir()
    typo = tmp_path / "typo.yaml"
    typo.write_text("num_train_epoch: 3\n")
    for extra, message in [
        (["--set", "lr_schedular_type=cosine"],
         ("--set lr_schedular_type=cosine: unknown key(s) ['lr_schedular_type']; "
          "'lr_schedular_type': did you mean 'lr_scheduler_type'?")),
        (["--set", "learning_rate=fast"], "--set learning_rate=fast: `learning_rate` must be a number, got 'fast'"),
        (["--set", "eval_strategy=sometimes"], "`eval_strategy` must be one of 'no', 'steps', 'epoch', got 'sometimes'"),
        (["--config", str(typo)], (f"{typo}: unknown key(s) ['num_train_epoch']; "
                                   "'num_train_epoch': did you mean 'num_train_epochs'?")),
        (["--set", "wise_ft_alpha=1.5"], "wise_ft_alpha must be in [0, 1], got 1.5"),
    ]:  # fmt: skip
        with pytest.raises(SystemExit) as exit_info:
            main(["finetune", str(model), str(data), "--output", str(output), *extra])
        assert message in _one_line_error(capsys, exit_info, "finetune")
    assert not output.exists()

    config = tmp_path / "islr.yaml"
    config.write_text("lr_scheduler_type: cosine\nlearning_rate: 1.0e-3\nwise_ft_alpha: 0.5\n")
    parser = command_parser("finetune")[0]
    for flags, learning_rate in ([], 2e-3), (["--learning-rate", "4e-3"], 4e-3):
        args = parser.parse_args([str(model), str(data), "--output", str(output), "--config", str(config),
                                  "--set", "learning_rate=2e-3", "--epochs", "3", *flags])  # fmt: skip
        given = {dest: getattr(args, dest) for dest in args.given}
        options, training = finetune_arguments(args.output, args.config, args.overrides, **given)
        assert (training.learning_rate, training.num_train_epochs, training.lr_scheduler_type) == (
            learning_rate, 3.0, "cosine"
        )
        assert options.wise_ft_alpha == 0.5 and training.label_smoothing_factor == 0.1  # the package default
        assert training.output_dir == str(output)
    defaults = {**training_defaults(), **asdict(FinetuneArguments())}
    assert {name: defaults[name] for name in command.DEFAULTS} == command.DEFAULTS  # the defaults --help shows


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


def test_missing_local_dataset_dir_fails_at_once(tmp_path, capsys, monkeypatch):
    """A dataset path that does not exist is named as such (evaluate and index read datasets with one loader)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model").mkdir()
    for argv in (["evaluate", "model", "./missing"], ["index", "model", "data/gestures", "--output", "idx"]):
        (tmp_path / "data").mkdir(exist_ok=True)
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert _one_line_error(capsys, exit_info, argv[0]).endswith(f"error: dataset directory not found: {argv[2]}")
    assert not (tmp_path / "idx").exists()


def test_wrong_model_or_dataset_path_fails_before_torch_loads(tmp_path):
    """MODEL and DATASET are checked by the CLI before any library import: a typo costs a fraction of a second
    (the app spent about 23 s on Hub retries before)."""
    for argv, message in (
        (["app", str(tmp_path / "no-such-model")], f"model directory not found: {tmp_path / 'no-such-model'}"),
        (["evaluate", str(tmp_path), "./no-such-data"], "dataset directory not found: ./no-such-data"),
    ):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "signclip_hf.cli", *argv], capture_output=True, text=True,
                              cwd=tmp_path, check=False)  # fmt: skip
        seconds = time.perf_counter() - started
        assert done.returncode == 2 and done.stderr == f"signclip-hf {argv[0]}: error: {message}\n", done.stderr
        assert seconds < 2.0, f"{argv}: {seconds:.2f} s"
        imported = subprocess.run([sys.executable, "-X", "importtime", "-m", "signclip_hf.cli", *argv],
                                  capture_output=True, text=True, cwd=tmp_path, check=False).stderr  # fmt: skip
        modules = {line.rsplit("|", 1)[-1].strip() for line in imported.splitlines() if line.startswith("import time:")}
        assert "signclip_hf.cli" in modules and not modules & {"torch", "transformers"}, sorted(modules)


def test_empty_metadata_csv_says_so(tmp_path, capsys):
    (tmp_path / "metadata.csv").write_text("")
    with pytest.raises(SystemExit) as exit_info:
        main(["build-dataset", str(tmp_path), "--output", str(tmp_path / "out")])
    error = _one_line_error(capsys, exit_info, "build-dataset")
    assert "metadata.csv: the CSV is empty (no header row); it needs the column(s) ['file', 'label']" in error
    assert "None" not in error


def _missing(monkeypatch, *modules: str) -> None:
    """Simulate optional dependencies that are not installed (an import of them raises ImportError)."""
    for name in modules:
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            monkeypatch.delitem(sys.modules, loaded)
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.parametrize(
    "modules, extra, argv",
    [
        (("srt",), "spotting", ["spot", "{tmp}", "REC", "--query", "a", "--segments", "{tmp}/cues.srt", "--output", "o"]),
        (("webvtt",), "spotting", ["spot", "{tmp}", "REC", "--query", "a", "--segments", "{tmp}/cues.vtt", "--output", "o"]),
        (("pympi",), "spotting", ["spot", "{tmp}", "REC", "--query", "a", "--output", "o", "--eaf", "{tmp}/o.eaf"]),
        (("srt",), "spotting", ["spot", "{tmp}", "REC", "--query", "a", "--output", "o", "--srt", "{tmp}/o.srt"]),
        (("gradio",), "app", ["app", "{tmp}"]),
        (("mediapipe",), "video", ["video-to-pose", "{tmp}", "--output", "{tmp}/poses"]),
        (("cv2",), "video", ["render", "{house}", "--output", "{tmp}/house.gif"]),
    ],
)
def test_missing_extra_is_one_line_with_the_install_hint(modules, extra, argv, tmp_path, capsys, monkeypatch):
    from signclip_hf.sample_data import HOUSE_POSE

    for name in ("cues.srt", "cues.vtt", "ann.eaf"):
        (tmp_path / name).write_text("")
    _missing(monkeypatch, *modules)
    argv = [a.format(tmp=tmp_path, house=HOUSE_POSE) for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    error = _one_line_error(capsys, exit_info, argv[0])
    assert error.endswith(f'pip install "signclip-hf[{extra}]"'), error
    assert not (tmp_path / "poses").exists() and not (tmp_path / "house.gif").exists()


def test_missing_faiss_names_the_index_extra(tmp_path, monkeypatch):
    from signclip_hf.extras import MissingExtraError
    from signclip_hf.search.index import IndexConfig, SignIndex, new_faiss_index

    _missing(monkeypatch, "faiss")
    with pytest.raises(MissingExtraError, match=r'faiss-cpu is not installed; .*pip install "signclip-hf\[index\]"'):
        new_faiss_index(IndexConfig(), 8)
    with pytest.raises(MissingExtraError, match=r"signclip-hf\[index\]"):
        SignIndex.load(tmp_path, None, None)
