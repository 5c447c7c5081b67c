"""signclip-hf: SignCLIP (sign-language pose <-> text) on the Hugging Face stack.

Importing this package registers the SignCLIP classes with transformers' Auto classes and pipelines, and
marks them for `trust_remote_code` export so that `save_pretrained` writes the modeling files next to the
weights. The `signclip-hf` command defers that (it costs ~3 s of torch/transformers imports) until a
subcommand runs, so that `--help` answers at once; `register_auto_classes()` does it (idempotent).
"""

from __future__ import annotations

import os
import sys

__version__ = "0.1.0"

_REGISTERED = False


def register_auto_classes() -> None:
    """Register the SignCLIP classes with the Auto classes and the pipeline tasks (once per process)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoModelForVideoClassification, AutoProcessor

    from .modeling import (
        SignCLIPConfig,
        SignCLIPFeatureExtractor,
        SignCLIPForVideoClassification,
        SignCLIPModel,
        SignCLIPPoseConfig,
        SignCLIPProcessor,
    )

    AutoConfig.register(SignCLIPConfig.model_type, SignCLIPConfig, exist_ok=True)
    AutoConfig.register(SignCLIPPoseConfig.model_type, SignCLIPPoseConfig, exist_ok=True)
    AutoModel.register(SignCLIPConfig, SignCLIPModel, exist_ok=True)
    AutoModelForVideoClassification.register(SignCLIPConfig, SignCLIPForVideoClassification, exist_ok=True)
    AutoFeatureExtractor.register(SignCLIPConfig, SignCLIPFeatureExtractor, exist_ok=True)
    AutoProcessor.register(SignCLIPConfig, SignCLIPProcessor, exist_ok=True)
    SignCLIPConfig.register_for_auto_class()
    SignCLIPModel.register_for_auto_class("AutoModel")
    SignCLIPForVideoClassification.register_for_auto_class("AutoModelForVideoClassification")
    SignCLIPFeatureExtractor.register_for_auto_class("AutoFeatureExtractor")
    SignCLIPProcessor.register_for_auto_class("AutoProcessor")
    _REGISTERED = True
    from . import pipeline  # noqa: F401  registers the SignCLIP pipeline tasks


def _started_as_cli() -> bool:
    """True in the `signclip-hf` executable (or `python -m signclip_hf.cli`): registration waits for a command."""
    if os.path.basename(sys.argv[0]) == "signclip-hf":
        return True
    argv = list(getattr(sys, "orig_argv", ()))
    return any(a == "-m" and b == "signclip_hf.cli" for a, b in zip(argv, argv[1:]))


if not _started_as_cli():
    register_auto_classes()
    from .modeling import *  # noqa: F403,E402


def __getattr__(name: str):
    """Lazy access to the modeling exports (`signclip_hf.SignCLIPModel`) where the import was deferred."""
    import importlib
    import importlib.util

    if name.startswith("__") or importlib.util.find_spec(f"{__name__}.{name}") is not None:
        raise AttributeError(name)  # a submodule: the import system loads it
    register_auto_classes()
    try:
        return getattr(importlib.import_module(f"{__name__}.modeling"), name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
