"""The one way the package loads a model (and its processor): a local folder or a Hub repo id.

Every command, the app and the library entry points that take a model name call `load_model`:

- a local folder is read as it is;
- a name that is a valid Hub repo id (`org/signclip`) and not a path into an existing local folder is
  loaded from the Hub (or its cache; `HF_HUB_OFFLINE=1` stays offline);
- anything else that names a path (`./final`, `/abs/final`, `a/b/c`, `runs/final` with `runs/` here) fails
  at once with "model directory not found: PATH" instead of spending ~23 s on Hub retries of a non-repo-id.
"""

from __future__ import annotations

import os
from typing import Literal

Head = Literal["contrastive", "classifier", "saved"]


def resolve_model(name: str | os.PathLike) -> str:
    """`name` as a string when it is a local directory or a plausible Hub repo id; else a clear error, at once."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    name = os.fspath(name)
    if os.path.isdir(name):
        return name
    if os.path.exists(name):
        raise NotADirectoryError(f"{name}: not a model directory (it is a file)")
    try:
        validate_repo_id(name)
    except HFValidationError:
        raise FileNotFoundError(f"model directory not found: {name}") from None
    if "/" in name and os.path.isdir(name.split("/")[0]):
        raise FileNotFoundError(f"model directory not found: {name}")
    return name


def load_model(
    name: str | os.PathLike,
    head: Head = "contrastive",
    *,
    revision: str | None = None,
    token: str | bool | None = None,
    dtype=None,
    trust_remote_code: bool = False,
):
    """(model in eval mode, processor) from a local folder or a Hub repo id.

    Args:
        head: "contrastive" (`AutoModel`: the two towers and their scores), "classifier"
            (`AutoModelForVideoClassification`: a fine-tuned ISLR model) or "saved" (whichever architecture
            the folder's `config.json` names).
    """
    from . import register_auto_classes

    register_auto_classes()
    from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification, AutoProcessor

    path = resolve_model(name)
    options = {"revision": revision, "token": token, "trust_remote_code": trust_remote_code}
    if head == "saved":
        architectures = AutoConfig.from_pretrained(path, **options).architectures or []
        head = "classifier" if any(a.endswith("ForVideoClassification") for a in architectures) else "contrastive"
    auto = {"contrastive": AutoModel, "classifier": AutoModelForVideoClassification}.get(head)
    if auto is None:
        raise ValueError(f"head must be 'contrastive', 'classifier' or 'saved', got {head!r}")
    model = auto.from_pretrained(path, **options, **({"dtype": dtype} if dtype is not None else {}))
    return model.eval(), AutoProcessor.from_pretrained(path, **options)


__all__ = ["load_model", "resolve_model"]
