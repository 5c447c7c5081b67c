"""The one way the package loads a model (and its processor) and a dataset: a local folder or a Hub repo id.

Every command, the app and the library entry points that take a model name call `load_model`, and those
that take a dataset name call `load_dataset`:

- a local folder is read as it is;
- a name that is a valid Hub repo id (`org/signclip`) and not a path into an existing local folder is
  loaded from the Hub (or its cache; `HF_HUB_OFFLINE=1` stays offline);
- anything else that names a path (`./final`, `/abs/final`, `a/b/c`, `runs/final` with `runs/` here) fails
  at once with "model directory not found: PATH" (or "dataset directory not found: PATH") instead of
  spending ~23 s on Hub retries of a non-repo-id.
"""

from __future__ import annotations

import os
from typing import Literal

Head = Literal["contrastive", "classifier", "saved"]
Backend = Literal["torch", "onnx"]


def _resolve(name: str | os.PathLike, kind: str, token: str | bool | None = None) -> str:
    """`name` as a string when it is a local directory or a plausible Hub repo id; else a clear error, at once."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    name = os.fspath(name)
    if os.path.isdir(name):
        return name
    if os.path.exists(name):
        raise NotADirectoryError(f"{name}: not a {kind} directory (it is a file)")
    try:
        validate_repo_id(name)
    except HFValidationError:
        raise FileNotFoundError(f"{kind} directory not found: {name}") from None
    if "/" in name and os.path.isdir(name.split("/")[0]):
        raise FileNotFoundError(f"{kind} directory not found: {name}")
    return _on_the_hub(name, kind, token)


def _on_the_hub(name: str, kind: str, token: str | bool | None) -> str:
    """`name` when the Hub has that repo (one request, no retries), or when offline / cached; else a clear error.

    Without this, a mistyped relative folder that looks like a repo id (`my_model`, `runs/final`) spends ~23 s in
    transformers' download retries and ends in a network or repo-id error that never says the folder is missing.
    """
    from huggingface_hub import HfApi, constants, try_to_load_from_cache

    if constants.HF_HUB_OFFLINE:
        return name  # offline: the libraries read their caches and fail at once
    key = (constants.ENDPOINT, kind, name, token)
    if key in _FOUND_ON_HUB:  # the command line checks MODEL before the command loads it: one request, not two
        return name
    try:
        exists = HfApi().repo_exists(name, repo_type=kind, token=token)
    except Exception:  # no network (httpx errors are not OSErrors): a cached model still loads
        if kind == "model" and isinstance(try_to_load_from_cache(name, "config.json"), str):
            return name
        raise FileNotFoundError(
            f"{kind} directory not found: {name} (no such local folder, and the Hub could not be reached to look "
            "it up as a repo id)"
        ) from None
    if not exists:
        raise FileNotFoundError(f"{kind} directory not found: {name} (nor a {kind} repo on the Hub)")
    _FOUND_ON_HUB.add(key)
    return name


_FOUND_ON_HUB: set[tuple] = set()  # (endpoint, kind, repo id, token) seen to exist in this process


def resolve_model(name: str | os.PathLike, token: str | bool | None = None) -> str:
    """`name` as a string when it is a local directory or a Hub repo id that exists; else a clear error, at once."""
    return _resolve(name, "model", token)


def resolve_dataset(name: str | os.PathLike, token: str | bool | None = None) -> str:
    """As `resolve_model`, for a dataset: a local folder or a Hub dataset id; "dataset directory not found" else."""
    return _resolve(name, "dataset", token)


def is_saved_dataset(path: str | os.PathLike) -> bool:
    """Whether `path` is a folder written by `save_to_disk` / `build_dataset(output=...)`."""
    return os.path.isfile(os.path.join(path, "dataset_dict.json")) or os.path.isfile(os.path.join(path, "state.json"))


def load_dataset(
    name_or_path: str | os.PathLike,
    split: str | None = None,
    streaming: bool = False,
    revision: str | None = None,
    token: str | bool | None = None,
):
    """A pose dataset: a `build-dataset` (`save_to_disk`) folder, another local data folder, or a Hub dataset id.

    Args:
        split: one split (a saved dataset without splits serves as its `train` split); None: all of them
            (a `DatasetDict`, or a `Dataset` for an unsplit saved dataset).
        streaming: rows read lazily (an `IterableDataset` / `IterableDatasetDict`).
    A missing local path fails at once with "dataset directory not found: PATH".
    """
    import datasets

    path = resolve_dataset(name_or_path, token)
    if not (os.path.isdir(path) and is_saved_dataset(path)):
        return datasets.load_dataset(path, split=split, streaming=streaming, revision=revision, token=token)
    dataset = datasets.load_from_disk(path)
    if split is not None:
        if not isinstance(dataset, datasets.DatasetDict):
            if split != "train":
                raise ValueError(f"{path} holds a single dataset (no splits); asked for split {split!r}")
        elif split not in dataset:
            raise ValueError(f"{path} has splits {list(dataset)}; asked for {split!r}")
        else:
            dataset = dataset[split]
    if streaming:
        if isinstance(dataset, datasets.DatasetDict):
            return datasets.IterableDatasetDict({k: v.to_iterable_dataset() for k, v in dataset.items()})
        return dataset.to_iterable_dataset()
    return dataset


def load_model(
    name: str | os.PathLike,
    head: Head = "contrastive",
    *,
    revision: str | None = None,
    token: str | bool | None = None,
    dtype=None,
    trust_remote_code: bool = False,
    backend: Backend | None = None,
    precision: str | None = None,
    onnx_threads: int | None = None,
):
    """(model in eval mode, processor) from a local folder or a Hub repo id.

    Args:
        head: "contrastive" (`AutoModel`: the two towers and their scores), "classifier"
            (`AutoModelForVideoClassification`: a fine-tuned ISLR model) or "saved" (whichever architecture
            the folder's `config.json` names).
        backend: None (a folder written by `signclip-hf export` is served by onnxruntime, anything else by
            PyTorch), "torch" or "onnx" (then the folder must be an exported one).
        precision, onnx_threads: for the onnxruntime backend, "fp32" or "int8" graphs (None:
            `SIGNCLIP_HF_ONNX_PRECISION` or fp32) and intra-op threads (`signclip_hf.export.OnnxSignCLIPModel`).
    """
    from . import register_auto_classes

    register_auto_classes()
    from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification, AutoProcessor

    path = resolve_model(name, token)
    if backend not in (None, "torch", "onnx"):
        raise ValueError(f"backend must be 'torch' or 'onnx', got {backend!r}")
    from .onnx_backend import MANIFEST_NAME, is_exported_folder  # numpy only at import

    exported = is_exported_folder(path)
    if backend == "onnx" and not exported:
        raise ValueError(f"{name}: not an exported ONNX folder (no {MANIFEST_NAME}); run `signclip-hf export` first")
    if exported:
        if backend == "torch":
            raise ValueError(f"{name}: an exported ONNX folder has no PyTorch weights; load it with backend='onnx'")
        if head == "classifier":
            raise ValueError(f"{name}: an exported ONNX folder holds a contrastive SignCLIPModel, not a classifier")
        from .onnx_backend import load_onnx_model

        return load_onnx_model(path, precision, onnx_threads)
    options = {"revision": revision, "token": token, "trust_remote_code": trust_remote_code}
    if head == "saved":
        architectures = AutoConfig.from_pretrained(path, **options).architectures or []
        head = "classifier" if any(a.endswith("ForVideoClassification") for a in architectures) else "contrastive"
    auto = {"contrastive": AutoModel, "classifier": AutoModelForVideoClassification}.get(head)
    if auto is None:
        raise ValueError(f"head must be 'contrastive', 'classifier' or 'saved', got {head!r}")
    model = auto.from_pretrained(path, **options, **({"dtype": dtype} if dtype is not None else {}))
    processor = AutoProcessor.from_pretrained(path, **options)
    processor.feature_extractor.check_model_config(model.config)  # same features per frame, max_frames within reach
    return model.eval(), processor


__all__ = ["is_saved_dataset", "load_dataset", "load_model", "resolve_dataset", "resolve_model"]
