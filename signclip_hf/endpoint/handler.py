"""Inference Endpoints handler for a SignCLIP repository (pushed as `handler.py` next to the model).

Request: `{"inputs": "<base64 of a .pose file>", "parameters": {"candidate_labels": [...],
"spoken_language": "en", "sign_language": "ase", "top_k": 3}}` (raw `.pose` bytes are accepted as
`inputs` too). `inputs` may also be a video (MP4, WebM, MOV, AVI... base64; at most `MAX_VIDEO_SECONDS`
long): its MediaPipe Holistic pose is extracted by the model's own remote code (`video_signclip.py`,
needs `mediapipe==0.10.21` and `opencv-python-headless` in the endpoint's requirements). Response: a
JSON list `[{"label", "score", "logit"}, ...]`, best first; fine-tuned ISLR models answer
`[{"label", "score"}, ...]` and need no labels. Bad payloads (wrong types, too many or too long labels,
a damaged `.pose` file or video: `InvalidPoseError` is a `ValueError`) raise `ValueError` with a message
saying what is wrong (the endpoint toolkit answers those with HTTP 400). A score that is not finite is
refused the same way: the response is always valid JSON. One request holds one clip: send a request per
clip (a list of clips in `inputs` is refused, so there is no batched path to disagree with one at a time).

Only torch/transformers/numpy/pose-format and the model's own remote code are used.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import math
from typing import Any

from transformers import pipeline

MAX_POSE_BYTES = 32 * 1024 * 1024  # a 256-frame holistic clip is ~4 MB; refuse anything far larger
MAX_VIDEO_SECONDS = 60.0  # extraction runs at ~20 frames/s on one CPU core: a minute of video takes ~1.5 min
MAX_LABELS = 2048
MAX_LABEL_CHARS = 256  # prompts are truncated to 63 tokens anyway; longer labels only cost tokenizer time
MAX_TOTAL_LABEL_CHARS = 64 * 1024  # e.g. 2,048 glosses of 32 characters
PARAMETERS = {"candidate_labels", "spoken_language", "sign_language", "top_k"}


class EndpointHandler:
    """Loads the repository's own pipeline (`config.custom_pipelines`) once, then answers requests."""

    def __init__(
        self, path: str = "", max_pose_bytes: int = MAX_POSE_BYTES, max_video_seconds: float = MAX_VIDEO_SECONDS
    ):
        self.pipeline = pipeline(model=path or ".", trust_remote_code=True)
        self.checks = importlib.import_module(type(self.pipeline).__module__)  # the pipeline's own parameter checks
        self.zero_shot = self.pipeline.task == "zero-shot-sign-classification"
        self.max_pose_bytes = max_pose_bytes
        self.max_video_seconds = max_video_seconds
        # the model's own video extraction (a sibling of its feature extractor's remote-code file)
        package = type(self.pipeline.feature_extractor).__module__.rpartition(".")[0]
        self.video = importlib.import_module(f"{package}.video_signclip")

    def __call__(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        pose_bytes, parameters = self.parse(data)
        # a video becomes its pose, refused past the duration limit; a .pose passes unchanged
        config = self.video.VideoConfig(max_seconds=self.max_video_seconds)
        pose_bytes = self.video.as_pose_source(pose_bytes, '"inputs" (video)', config)
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


def check_labels(labels: Any) -> None:
    """A non-empty list of non-empty strings, bounded in count, length and total size (labels are tokenized)."""
    if isinstance(labels, str):
        labels = [labels]
    if not isinstance(labels, list) or not labels:
        raise ValueError('"parameters.candidate_labels" is required: a non-empty list of glosses')
    if len(labels) > MAX_LABELS:
        raise ValueError(f"too many candidate_labels ({len(labels)}); at most {MAX_LABELS} per request")
    for index, label in enumerate(labels):
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"candidate_labels[{index}] must be a non-empty string, got {label!r:.80}")
        if len(label) > MAX_LABEL_CHARS:
            raise ValueError(
                f"candidate_labels[{index}] is {len(label)} characters long; at most {MAX_LABEL_CHARS} per label"
            )
    total = sum(map(len, labels))
    if total > MAX_TOTAL_LABEL_CHARS:
        raise ValueError(f"candidate_labels hold {total} characters in all; at most {MAX_TOTAL_LABEL_CHARS}")


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
