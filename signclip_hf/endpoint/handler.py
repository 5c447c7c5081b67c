"""Inference Endpoints handler for a SignCLIP repository (pushed as `handler.py` next to the model).

Request: `{"inputs": "<base64 of a .pose file>", "parameters": {"candidate_labels": [...],
"spoken_language": "en", "sign_language": "ase", "top_k": 3}}` (raw `.pose` bytes are accepted as
`inputs` too). `inputs` may also be a video (MP4, WebM, MOV, AVI... base64; at most `MAX_VIDEO_SECONDS`
long): its MediaPipe Holistic pose is extracted by the model's own remote code (`video_signclip.py`,
needs `mediapipe==0.10.21` and `opencv-python-headless` in the endpoint's requirements). Response: a
JSON list `[{"label", "score", "logit"}, ...]`, best first; fine-tuned ISLR models answer
`[{"label", "score"}, ...]` and need no labels. Bad payloads (wrong types, too many, too long, repeated or
non-Unicode labels, a damaged `.pose` file or video: `InvalidPoseError` is a `ValueError`) raise
`ValueError` with a message saying what is wrong (the endpoint toolkit answers those with HTTP 400).
Videos are bounded by the model's own `VideoConfig` limits: at most `MAX_VIDEO_SECONDS` (whatever frame
rate the container claims: decoded frames and extraction time are capped too) and `MAX_VIDEO_MEGAPIXELS`
per frame (checked before decoding). A score that is not finite is refused the same way: the response is
always valid JSON. One request holds one clip: send a request per clip (a list of clips in `inputs` is
refused, so there is no batched path to disagree with one at a time).

The pipeline's task comes from the model's `config.json` (`load_signclip_pipeline`): a contrastive
`SignCLIPModel` is zero-shot, a fine-tuned `SignCLIPForVideoClassification` classifies, so a folder written
by plain `save_pretrained` works as well as one saved with its pipeline code. The app (`app.py`) loads its
model the same way (a Space gets this file next to its `app.py`).

Only torch/transformers/numpy/pose-format and the model's own remote code are used.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import math
import os
from typing import Any

from transformers import PretrainedConfig, pipeline

MAX_POSE_BYTES = 32 * 1024 * 1024  # a 256-frame holistic clip is ~4 MB; refuse anything far larger
MAX_VIDEO_SECONDS = 60.0  # extraction runs at ~20 frames/s on one CPU core: a minute of video takes ~1.5 min
MAX_VIDEO_MEGAPIXELS = 8.3  # 4K UHD (3840x2160); a decoded frame costs 3 bytes a pixel, its copies more
MAX_LABELS = 2048
MAX_LABEL_CHARS = 256  # prompts are truncated to 63 tokens anyway; longer labels only cost tokenizer time
MAX_TOTAL_LABEL_CHARS = 64 * 1024  # e.g. 2,048 glosses of 32 characters
PARAMETERS = {"candidate_labels", "spoken_language", "sign_language", "top_k"}
ZERO_SHOT_TASK, CLASSIFICATION_TASK = "zero-shot-sign-classification", "sign-classification"


def read_config(model: str) -> dict[str, Any]:
    """The `config.json` of a model folder or Hub repo id, as a dict; one clear line if it cannot be read."""
    try:
        config, _ = PretrainedConfig.get_config_dict(model)
    except (OSError, ValueError) as error:
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise OSError(f"{model}: cannot read the model's config.json ({detail})") from None
    return config


def signclip_task(config: dict[str, Any], model: str = "the model") -> str:
    """The pipeline task of a SignCLIP model's `config.json` (a dict): `sign-classification` for a fine-tuned
    `SignCLIPForVideoClassification`, `zero-shot-sign-classification` for a contrastive `SignCLIPModel`."""
    if config.get("model_type") != "signclip":
        raise ValueError(f"{model}: not a SignCLIP model (config.json has model_type {config.get('model_type')!r})")
    architectures = config.get("architectures") or []
    return CLASSIFICATION_TASK if any(a.endswith("ForVideoClassification") for a in architectures) else ZERO_SHOT_TASK


def load_signclip_pipeline(model: str, **kwargs: Any):
    """`pipeline(task, model=model, trust_remote_code=True, **kwargs)` with the model's own task (`signclip_task`).

    The pipeline code comes from the model (`config.custom_pipelines`, written with its `pipeline_signclip.py`
    by `signclip-hf push` / `save_for_pipeline`) or, for a folder saved with plain `save_pretrained`, from
    the signclip-hf package when it is installed (its pipelines are registered on import).
    """
    from transformers.pipelines import PIPELINE_REGISTRY

    config = read_config(model)
    task = signclip_task(config, model)
    if task not in (config.get("custom_pipelines") or {}) and task not in PIPELINE_REGISTRY.get_supported_tasks():
        try:  # the package registers its pipelines on import
            importlib.import_module("signclip_hf")
        except ImportError:
            raise ValueError(
                f"{model}: the model was saved without its pipeline code (no `custom_pipelines` in config.json): "
                "save it with `signclip_hf.pipeline.save_for_pipeline` or push it with `signclip-hf push`, or "
                "install signclip-hf here"
            ) from None
    if os.path.isfile(os.path.join(model, "signclip_onnx.json")):  # a `signclip-hf export` folder: onnxruntime
        try:  # the package's ONNX runtime (this file stays standalone: it is pushed to the Hub and to Spaces)
            runtime = importlib.import_module("signclip_hf.onnx_backend")
        except ImportError:
            raise ValueError(
                f"{model} is an ONNX export (signclip_onnx.json): serving it needs signclip-hf with the onnx extra"
            ) from None
        return runtime.onnx_pipeline(model)  # onnxruntime's CPU provider: `device` and such do not apply
    return pipeline(task, model=model, trust_remote_code=True, **kwargs)


class EndpointHandler:
    """Loads the repository's own pipeline (`config.custom_pipelines`) once, then answers requests."""

    def __init__(
        self,
        path: str = "",
        max_pose_bytes: int = MAX_POSE_BYTES,
        max_video_seconds: float = MAX_VIDEO_SECONDS,
        max_video_megapixels: float = MAX_VIDEO_MEGAPIXELS,
    ):
        path = path or "."
        if not os.path.isdir(path):
            raise FileNotFoundError(f"model directory not found: {path}")
        self.pipeline = load_signclip_pipeline(path)
        self.checks = importlib.import_module(type(self.pipeline).__module__)  # the pipeline's own parameter checks
        self.zero_shot = self.pipeline.task == ZERO_SHOT_TASK
        self.max_pose_bytes = max_pose_bytes
        # the model's own video extraction (a sibling of its feature extractor's remote-code file) and its limits
        package = type(self.pipeline.feature_extractor).__module__.rpartition(".")[0]
        self.video = importlib.import_module(f"{package}.video_signclip")
        self.video_config = self.video.VideoConfig(max_seconds=max_video_seconds, max_megapixels=max_video_megapixels)

    def __call__(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        pose_bytes, parameters = self.parse(data)
        # a video becomes its pose, within the duration, frame, time and pixel limits; a .pose passes unchanged
        pose_bytes = self.video.as_pose_source(pose_bytes, '"inputs" (video)', self.video_config)
        return check_finite_scores(self.pipeline(pose_bytes, **parameters))

    def parse(self, data: Any) -> tuple[bytes, dict[str, Any]]:
        """Validate a request; returns the `.pose` bytes and the pipeline parameters."""
        if not isinstance(data, dict) or "inputs" not in data:
            raise ValueError('request body must be a JSON object with "inputs" (base64 of a .pose file)')
        pose_bytes = self._decode(data["inputs"])
        parameters = data.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise ValueError('"parameters" must be a JSON object')
        unknown = sorted(set(parameters) - PARAMETERS)
        if unknown:
            raise ValueError(f"unknown parameters {unknown}; accepted: {sorted(PARAMETERS)}")
        for key in ("spoken_language", "sign_language"):
            if key in parameters and not isinstance(parameters[key], str):
                kind = type(parameters[key]).__name__
                raise ValueError(f'"parameters.{key}" must be a language code string such as "en" or "ase", got {kind}')
            if key in parameters:
                check_text(parameters[key], f'"parameters.{key}"')
        if self.zero_shot:
            check_labels(parameters.get("candidate_labels"))
        elif "candidate_labels" in parameters:
            raise ValueError("this model is a fine-tuned classifier with fixed labels; drop candidate_labels")
        if parameters.get("top_k") is not None:
            self.checks.check_top_k(parameters["top_k"], '"parameters.top_k"')
        return pose_bytes, parameters

    def _decode(self, inputs: Any) -> bytes:
        if isinstance(inputs, (bytes, bytearray)):
            pose_bytes = bytes(inputs)
        elif isinstance(inputs, str):
            if len(inputs) > (self.max_pose_bytes + 2) // 3 * 4 + 4:
                raise ValueError(f'"inputs" is too large: the .pose file may be at most {self.max_pose_bytes} bytes')
            try:
                pose_bytes = base64.b64decode(inputs, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError('"inputs" is not valid base64 (expected the base64 of a .pose file)') from None
        elif isinstance(inputs, list):
            raise ValueError('"inputs" must be one .pose file (base64): send one request per clip, not a list')
        else:
            raise ValueError(f'"inputs" must be a base64 string of a .pose file, got {type(inputs).__name__}')
        if not pose_bytes:
            raise ValueError('"inputs" is empty')
        if len(pose_bytes) > self.max_pose_bytes:
            raise ValueError(
                f'"inputs" is too large: {len(pose_bytes)} bytes, the .pose file may be at most {self.max_pose_bytes}'
            )
        return pose_bytes


def check_text(text: str, what: str) -> str:
    """`text` unchanged if it is valid Unicode: a lone surrogate (`"\\ud800"`, legal in JSON) has no UTF-8 form,
    and the tokenizer would fail on it with a bare TypeError (an HTTP 500)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"{what} is not valid Unicode text: character {error.start} is {text[error.start]!r} ({error.reason})"
        ) from None
    return text


def check_labels(labels: Any) -> None:
    """A non-empty list of distinct, non-empty, valid Unicode strings, bounded in count, length and total size.

    A repeated label (also one that differs only in surrounding spaces: the same prompt) is refused: the
    softmax would split its probability between the copies."""
    if isinstance(labels, str):
        labels = [labels]
    if not isinstance(labels, list) or not labels:
        raise ValueError('"parameters.candidate_labels" is required: a non-empty list of glosses')
    if len(labels) > MAX_LABELS:
        raise ValueError(f"too many candidate_labels ({len(labels)}); at most {MAX_LABELS} per request")
    total = sum(len(label) for label in labels if isinstance(label, str))
    if total > MAX_TOTAL_LABEL_CHARS:
        raise ValueError(f"candidate_labels hold {total} characters in all; at most {MAX_TOTAL_LABEL_CHARS}")
    seen: dict[str, int] = {}
    for index, label in enumerate(labels):
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"candidate_labels[{index}] must be a non-empty string, got {label!r:.80}")
        if len(label) > MAX_LABEL_CHARS:
            raise ValueError(
                f"candidate_labels[{index}] is {len(label)} characters long; at most {MAX_LABEL_CHARS} per label"
            )
        check_text(label, f"candidate_labels[{index}]")
        first = seen.setdefault(label.strip(), index)
        if first != index:
            raise ValueError(
                f"candidate_labels[{index}] {label.strip()!r:.80} repeats candidate_labels[{first}]: each label may "
                "appear once (copies would split its probability)"
            )


def check_finite_scores(result: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`result` unchanged if every number in it is finite: NaN/inf is not JSON and never a meaningful score."""
    for entry in result:
        for key, value in entry.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(
                    f"the model gave a non-finite {key} ({value}) for label {entry.get('label')!r}: refusing to "
                    "answer (check the pose coordinates and the model weights)"
                )
    return result
