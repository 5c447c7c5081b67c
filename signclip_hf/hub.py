"""Publish a SignCLIP model directory as a complete Hub repository (`signclip-hf push`).

The repository gets the weights, config, processor, remote code (modeling + pipeline files), a model
card (`README.md`), and the Inference Endpoints `handler.py` + `requirements.txt`. Everything is staged
in a temporary folder and uploaded in one commit; files whose content is already on the Hub are skipped
by `huggingface_hub`, so pushing the same directory again creates no commit.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import torch
from huggingface_hub import CommitInfo, HfApi

from .cards import CardInfo, build_model_card
from .endpoint import HANDLER_FILE, REQUIREMENTS_FILE
from .loading import load_model
from .pipeline import save_for_pipeline

REQUIRED_FILES = ("config.json", "processor_config.json")


def stage_repository(model_dir: str | Path, staging_dir: str | Path, card: CardInfo, eval_json=None) -> Path:
    """Write everything the repository should contain into `staging_dir`."""
    model_dir, staging_dir = Path(model_dir), Path(staging_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"model directory not found: {model_dir}")
    missing = [name for name in REQUIRED_FILES if not (model_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{model_dir}: not a SignCLIP model directory with a processor (missing {missing})")
    staging_dir.mkdir(parents=True, exist_ok=True)
    for path in model_dir.iterdir():
        if path.is_file() and not path.name.startswith("."):
            shutil.copy2(path, staging_dir / path.name)
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    if not config.get("custom_pipelines") or not (model_dir / "pipeline_signclip.py").is_file():
        # saved without pipeline code (e.g. by Trainer): re-save model + processor with it
        model, processor = load_model(model_dir, head="saved", dtype=getattr(torch, config.get("dtype") or "float32"))
        save_for_pipeline(model, processor, staging_dir)
    build_model_card(staging_dir, card, eval_json).save(staging_dir / "README.md")
    shutil.copy2(HANDLER_FILE, staging_dir / "handler.py")
    shutil.copy2(REQUIREMENTS_FILE, staging_dir / "requirements.txt")
    return staging_dir


def push_model(
    model_dir: str | Path,
    repo_id: str,
    private: bool = False,
    revision: str | None = None,
    card: CardInfo | None = None,
    eval_json: str | Path | dict | None = None,
    commit_message: str = "Upload SignCLIP model",
    token: str | None = None,
) -> CommitInfo:
    """Push `model_dir` to `repo_id` (created if needed; `revision` is a branch, created from main if needed).

    Returns the commit; when nothing changed it is the existing head commit and no new commit is made.
    The local folder is checked and staged first: a bad folder fails before anything is created on the Hub.
    """
    api = HfApi(token=token)
    card = card or CardInfo(model_name=repo_id.split("/")[-1], repo_id=repo_id)
    with tempfile.TemporaryDirectory(prefix="signclip-push-") as staging:
        stage_repository(model_dir, staging, card, eval_json)
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision is not None:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        return api.upload_folder(
            repo_id=repo_id, folder_path=staging, revision=revision, commit_message=commit_message
        )
