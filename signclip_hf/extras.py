"""Optional features and the install hint a missing one answers with.

`require("faiss", "index")` imports and returns the module, or raises `MissingExtraError` saying
`faiss is needed for ...: pip install "signclip-hf[index]"`; the CLI prints that as its one-line error.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

# extra -> what it is for (the extras themselves are declared in pyproject.toml)
EXTRAS = {
    "index": "FAISS search indexes (`index`, `search`)",
    "video": "video input and pose rendering (MediaPipe Holistic, OpenCV)",
    "app": "the Gradio app (`app`, `push --space`)",
    "spotting": "ELAN / SRT / WebVTT spotting outputs and segments",
    "serve": "the HTTP embedding service (`serve`: FastAPI, uvicorn)",
    "ray": "corpus jobs on a Ray cluster (`--ray`)",
    "onnx": "ONNX export and the onnxruntime backend (`export`)",
}


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message says which extra installs it."""


def _missing(module: str, extra: str, distribution: str | None) -> MissingExtraError:
    name = distribution or module.split(".")[0]
    return MissingExtraError(
        f"{name} is not installed; it is needed for {EXTRAS[extra]}: pip install \"signclip-hf[{extra}]\""
    )


def require(module: str, extra: str, distribution: str | None = None) -> ModuleType:
    """Import `module`, or fail with the `pip install "signclip-hf[extra]"` that brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise _missing(module, extra, distribution) from error


def check(module: str, extra: str, distribution: str | None = None) -> None:
    """As `require`, without importing `module` (for work that imports it in worker processes)."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise _missing(module, extra, distribution)


__all__ = ["EXTRAS", "MissingExtraError", "check", "require"]
