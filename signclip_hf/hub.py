"""`signclip-hf push`: publish a SignCLIP model directory as a complete Hub repository.

The repository gets the weights, config, processor, remote code (modeling + pipeline files), a model
card (`README.md`), and the Inference Endpoints `handler.py` + `requirements.txt`. Everything is staged
in a temporary folder and uploaded in one commit; files whose content is already on the Hub are skipped
by `huggingface_hub`, so pushing the same directory again creates no commit.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import torch
from huggingface_hub import CommitInfo, HfApi
from transformers import AutoModel, AutoModelForVideoClassification, AutoProcessor

from .cards import CardInfo, build_model_card
from .endpoint import HANDLER_FILE, REQUIREMENTS_FILE
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
        classifier = "SignCLIPForVideoClassification" in config.get("architectures", [])
        auto = AutoModelForVideoClassification if classifier else AutoModel
        model = auto.from_pretrained(model_dir, dtype=getattr(torch, config.get("dtype") or "float32"))
        save_for_pipeline(model, AutoProcessor.from_pretrained(model_dir), staging_dir)
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", type=Path, help="saved SignCLIP model directory (model + processor)")
    parser.add_argument("repo_id", help="Hub repository, e.g. user/signclip")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--revision", help="branch to push to (created if missing)")
    parser.add_argument("--eval-results", type=Path, help="evaluation JSON for the card's model-index (see cards.py)")
    parser.add_argument("--model-name", help="card title (default: the repository name)")
    parser.add_argument("--license", default="mit", help="licence of the weights (Hub licence id)")
    parser.add_argument("--base-model", action="append", help="Hub id of a base model (repeatable)")
    parser.add_argument("--dataset", action="append", default=[], help="Hub id of a training dataset (repeatable)")
    parser.add_argument(
        "--sign-language", action="append", help="ISO 639-3 sign language code (repeatable; default ase)"
    )
    parser.add_argument("--description", help="first paragraph of the card")
    parser.add_argument(
        "--space", metavar="SPACE_REPO", help="also push a Gradio Space (the `signclip-hf app`) for the model; needs [app]"
    )
    parser.add_argument("--space-gallery", metavar="DATASET", help="Hub dataset (build-dataset) the Space searches")


def run(args: argparse.Namespace) -> int:
    card = CardInfo(
        model_name=args.model_name or args.repo_id.split("/")[-1],
        repo_id=args.repo_id,
        license=args.license,
        base_model=args.base_model[0] if args.base_model and len(args.base_model) == 1 else args.base_model,
        datasets=args.dataset,
        sign_languages=args.sign_language or ["ase"],
        description=args.description,
        space=args.space,
    )
    commit = push_model(args.model_dir, args.repo_id, args.private, args.revision, card, args.eval_results)
    print(f"Pushed {args.model_dir} to {args.repo_id} ({args.revision or 'main'}): {commit.commit_url}")
    if args.space:
        from .space.stage import push_space

        space_commit = push_space(args.space, args.repo_id, args.space_gallery, args.private)
        print(f"Pushed the app Space {args.space}: {space_commit.commit_url}")
    return 0
