"""The Hub Space of a SignCLIP model: the same `app.py` as `signclip-hf app`, served by the Space.

The Space repository holds `app.py`, `render.py`, `handler.py` (the endpoint handler: the app loads its model
and checks text with it; all three standalone), `requirements.txt` (the versions this
package runs with, pinned; not signclip-hf, which a Space cannot assume), a README with the Space
metadata (`sdk: gradio`, `sdk_version`, `app_file`, `models: [REPO]`) and a few real example clips. The
app loads the model from the Hub with `trust_remote_code`. The staged files depend only on their inputs,
so pushing the same Space again changes no file and creates no commit.
"""

from __future__ import annotations

import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import yaml
from huggingface_hub import CommitInfo, HfApi

from .. import render
from ..endpoint import HANDLER_FILE
from ..sample_data import SAMPLE_DIR
from . import APP_FILE
from .app import EXAMPLES

# what app.py, render.py, handler.py and the model's remote code import, pinned to the versions installed here
REQUIREMENTS = (
    "torch", "transformers", "numpy", "pose-format", "gradio", "datasets", "pyyaml", "tqdm",
    "opencv-python-headless", "mediapipe", "pillow",
)  # fmt: skip


def requirements() -> str:
    """`requirements.txt`: every package of `REQUIREMENTS`, pinned to its installed version (local tags dropped)."""
    lines = ["# Installed by the Space (pinned to the versions signclip-hf was tested with)"]
    for name in REQUIREMENTS:
        try:
            lines.append(f"{name}=={version(name).split('+')[0]}")
        except PackageNotFoundError:
            lines.append(name)
    return "\n".join(lines) + "\n"


def space_readme(model_repo: str, gallery: str | None = None, title: str | None = None) -> str:
    """README.md with the Space metadata (https://huggingface.co/docs/hub/spaces-config-reference)."""
    meta = {
        "title": title or f"SignCLIP: {model_repo.split('/')[-1]}"[:60],
        "emoji": "🤟",
        "colorFrom": "indigo",
        "colorTo": "blue",
        "sdk": "gradio",
        "sdk_version": version("gradio"),
        "app_file": "app.py",
        "pinned": False,
        "license": "mit",
        "models": [model_repo],
        **({"datasets": [gallery]} if gallery else {}),
        "short_description": "Recognize signs and find signs for a text with SignCLIP",
        "tags": ["sign-language", "pose", "signclip"],
    }
    body = (
        f"# {meta['title']}\n\n"
        f"An interactive demo of [{model_repo}](https://huggingface.co/{model_repo}): upload a MediaPipe Holistic "
        "`.pose` file or a video of one sign and rank candidate glosses"
        + (
            f", or find the clips of [{gallery}](https://huggingface.co/datasets/{gallery}) that match a text"
            if gallery
            else ""
        )
        + ".\n\nSignCLIP: Jiang et al., *SignCLIP: Connecting Text and Sign Language by Contrastive Learning*, "
        "EMNLP 2024 (https://aclanthology.org/2024.emnlp-main.518).\n"
    )
    return f"---\n{yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)}---\n\n{body}"


def stage_space(staging_dir: str | Path, model_repo: str, gallery: str | None = None) -> Path:
    """Write the Space's files into `staging_dir`."""
    staging_dir = Path(staging_dir)
    (staging_dir / "examples").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(APP_FILE, staging_dir / "app.py")
    shutil.copyfile(render.__file__, staging_dir / "render.py")
    shutil.copyfile(HANDLER_FILE, staging_dir / "handler.py")
    (staging_dir / "requirements.txt").write_text(requirements(), encoding="utf-8")
    (staging_dir / "README.md").write_text(space_readme(model_repo, gallery), encoding="utf-8")
    for example in EXAMPLES:
        found = sorted(SAMPLE_DIR.rglob(example.file))
        if found:
            shutil.copyfile(found[0], staging_dir / "examples" / example.file)
    return staging_dir


def push_space(
    space_repo: str,
    model_repo: str,
    gallery: str | None = None,
    private: bool = False,
    token: str | None = None,
) -> CommitInfo:
    """Create/update the Gradio Space `space_repo` for `model_repo`; unchanged files make no new commit."""
    api = HfApi(token=token)
    api.create_repo(space_repo, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="signclip-space-") as staging:
        stage_space(staging, model_repo, gallery)
        return api.upload_folder(
            repo_id=space_repo, repo_type="space", folder_path=staging, commit_message=f"SignCLIP app for {model_repo}"
        )
