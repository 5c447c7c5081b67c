"""The SignCLIP web page as a static Hub Space (`sdk: static`) that loads its graphs from the model repository.

`push_static_space(space, model_repo, exported)` uploads the export's web files (manifest, fp32 graphs,
vocabulary, tokenizer) to the model repository, then the page itself (`build_site` with `model_url` pointing at
the model repository's `resolve/main/`) to the Space, which any visitor's browser then runs: no Python server,
nothing sent anywhere. Unchanged files make no new commit.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .site import MANIFEST, TOKENIZER, SiteConfig, build_site, read_export


def space_readme(model_repo: str, title: str | None = None) -> str:
    """README.md with the static Space's metadata (https://huggingface.co/docs/hub/spaces-config-reference)."""
    import yaml

    meta = {
        "title": title or f"SignCLIP in the browser: {model_repo.split('/')[-1]}"[:60],
        "emoji": "🤟",
        "colorFrom": "indigo",
        "colorTo": "blue",
        "sdk": "static",
        "app_file": "index.html",
        "pinned": False,
        "license": "mit",
        "models": [model_repo],
        "short_description": "Recognize a sign from a .pose file, in your browser",
        "tags": ["sign-language", "pose", "signclip", "onnx"],
    }
    body = (
        f"# {meta['title']}\n\nDrop a MediaPipe Holistic `.pose` file: the page computes its features, runs the pose "
        f"tower of [{model_repo}](https://huggingface.co/{model_repo}) with onnxruntime-web and ranks the glosses, "
        "all in your browser.\n\nSignCLIP: Jiang et al., *SignCLIP: Connecting Text and Sign Language by "
        "Contrastive Learning*, EMNLP 2024 (https://aclanthology.org/2024.emnlp-main.518).\n"
    )
    return f"---\n{yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)}---\n\n{body}"


def model_files(exported: Path, manifest: dict, free_text: bool = True) -> list[str]:
    """The export's files the page loads from the model repository (relative paths)."""
    graphs = manifest["graphs"]["fp32"]
    files = [MANIFEST, graphs["pose"], manifest["vocabulary"]]
    return files + ([graphs["text"], TOKENIZER] if free_text else [])


def push_static_space(
    space_repo: str,
    model_repo: str,
    exported: str | os.PathLike,
    private: bool = False,
    token: str | None = None,
    runtime: str | os.PathLike | None = None,
    free_text: bool = True,
):
    """Push the page for `exported` (a `signclip-hf export --vocabulary ...` folder of `model_repo`'s model) as the
    static Space `space_repo`; returns (the model repository's commit, the Space's commit)."""
    from huggingface_hub import HfApi, constants

    exported = Path(exported)
    manifest, _ = read_export(exported, "fp32", free_text)  # a bad folder fails before anything is created
    api = HfApi(token=token)
    api.create_repo(model_repo, private=private, exist_ok=True)
    model_commit = api.upload_folder(
        repo_id=model_repo,
        folder_path=exported,
        allow_patterns=model_files(exported, manifest, free_text),
        commit_message="Upload the ONNX export for the SignCLIP web page",
    )
    model_url = f"{constants.ENDPOINT.rstrip('/')}/{model_repo}/resolve/main/"
    api.create_repo(space_repo, repo_type="space", space_sdk="static", private=private, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="signclip-static-space-") as staging:
        site = Path(staging) / "site"
        build_site(exported, site, SiteConfig(model_url=model_url, free_text=free_text), runtime=runtime)
        (site / "README.md").write_text(space_readme(model_repo), encoding="utf-8")
        space_commit = api.upload_folder(
            repo_id=space_repo,
            repo_type="space",
            folder_path=site,
            commit_message=f"SignCLIP web page for {model_repo}",
        )
    return model_commit, space_commit


__all__ = ["push_static_space", "space_readme"]
