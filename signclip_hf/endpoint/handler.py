"""Inference Endpoints handler for a SignCLIP repository (pushed as `handler.py` next to the model).

Request: `{"inputs": "<base64 of a .pose file>", "parameters": {"candidate_labels": [...],
"spoken_language": "en", "sign_language": "ase", "top_k": 3}}` (raw `.pose` bytes are accepted as
`inputs` too). Response: a JSON list `[{"label", "score", "logit"}, ...]`, best first; fine-tuned ISLR
models answer `[{"label", "score"}, ...]` and need no labels. Bad payloads raise `ValueError` with a
message saying what is wrong (the endpoint toolkit answers those with HTTP 400).

Only torch/transformers/numpy/pose-format and the model's own remote code are used.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from transformers import pipeline

MAX_POSE_BYTES = 32 * 1024 * 1024  # a 256-frame holistic clip is ~4 MB; refuse anything far larger
MAX_LABELS = 2048
PARAMETERS = {"candidate_labels", "spoken_language", "sign_language", "top_k"}


class EndpointHandler:
    """Loads the repository's own pipeline (`config.custom_pipelines`) once, then answers requests."""

    def __init__(self, path: str = "", max_pose_bytes: int = MAX_POSE_BYTES):
        self.pipeline = pipeline(model=path or ".", trust_remote_code=True)
        self.zero_shot = self.pipeline.task == "zero-shot-sign-classification"
        self.max_pose_bytes = max_pose_bytes

    def __call__(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        pose_bytes, parameters = self.parse(data)
        return self.pipeline(pose_bytes, **parameters)

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
        if self.zero_shot:
            labels = parameters.get("candidate_labels")
            if not labels:
                raise ValueError('"parameters.candidate_labels" is required: a non-empty list of glosses')
            if isinstance(labels, list) and len(labels) > MAX_LABELS:
                raise ValueError(f"too many candidate_labels ({len(labels)}); at most {MAX_LABELS} per request")
        elif "candidate_labels" in parameters:
            raise ValueError("this model is a fine-tuned classifier with fixed labels; drop candidate_labels")
        top_k = parameters.get("top_k")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f'"parameters.top_k" must be a positive integer, got {top_k!r}')
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
        else:
            raise ValueError(f'"inputs" must be a base64 string of a .pose file, got {type(inputs).__name__}')
        if not pose_bytes:
            raise ValueError('"inputs" is empty')
        if len(pose_bytes) > self.max_pose_bytes:
            raise ValueError(
                f'"inputs" is too large: {len(pose_bytes)} bytes, the .pose file may be at most {self.max_pose_bytes}'
            )
        return pose_bytes
