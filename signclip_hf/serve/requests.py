"""Decoding and validating requests of the embedding service (on the decode threads, outside any forward pass).

The request format is the original SignCLIP service's (fairseq `examples/MMPT/app.py`): a JSON object with
`"pose"` (base64 of `.pose` files: one string or a list) or `"text"` (one string or a list), and optionally
`"model_name"`. Every problem is a `RequestError`: an HTTP status and one line naming the input and what is
wrong with it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import numpy as np

from ..modeling.keypoints_signclip import InvalidPoseError
from ..modeling.prompts_signclip import validate_prompt
from ..modeling.video_signclip import is_video
from .config import ServeConfig

_WHITESPACE = re.compile(rb"\s+")


class RequestError(Exception):
    """A bad request: `status` (4xx) and a one-line `message`."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(one_line(message))
        self.message, self.status = one_line(message), status


def one_line(message: str) -> str:
    return " ".join(str(message).split())


def parse_json(body: bytes, what: str) -> dict:
    """The request body as a JSON object (UTF-8, or the UTF-16/32 that JSON allows)."""
    if not body.strip():
        raise RequestError(f"the request has no body: send a JSON object with {what}")
    try:
        payload = json.loads(body)
    except UnicodeDecodeError:
        raise RequestError("the request body is not UTF-8 text (JSON must be UTF-8)") from None
    except json.JSONDecodeError as error:
        raise RequestError(f"the request body is not valid JSON ({error.msg} at character {error.pos})") from None
    except RecursionError:
        raise RequestError("the request body is nested too deeply to be a request") from None
    if not isinstance(payload, dict):
        raise RequestError(f"the request body must be a JSON object with {what}, got a JSON {_kind(payload)}")
    return payload


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def string_list(payload: dict, key: str, limit: int, description: str) -> list[str]:
    """`payload[key]` as a non-empty list of strings (one string is a list of one, as in the original)."""
    if key not in payload or payload[key] is None:
        raise RequestError(f'the request has no "{key}": give {description}')
    value = payload[key]
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise RequestError(f'"{key}" must be a string or a list of strings ({description}), got a JSON {_kind(value)}')
    if not items:
        raise RequestError(f'"{key}" is an empty list: give {description}')
    if len(items) > limit:
        raise RequestError(f'"{key}" has {len(items)} items; at most {limit} per request', status=413)
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise RequestError(f'"{key}"[{index}] must be a string, got a JSON {_kind(item)}')
    return items


def model_name(payload: dict) -> str | None:
    name = payload.get("model_name")
    if name is not None and not isinstance(name, str):
        raise RequestError(f'"model_name" must be a string, got a JSON {_kind(name)}')
    return name


def decode_base64(item: str, name: str, what: str) -> bytes:
    """Standard base64 (line breaks and spaces allowed, as `base64.encodebytes` writes them)."""
    try:
        raw = item.encode("ascii")
        try:
            data = base64.b64decode(raw, validate=True)
        except binascii.Error:  # line breaks? (a regex pass over megabytes only when the fast path fails)
            data = base64.b64decode(_WHITESPACE.sub(b"", raw), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise RequestError(f"{name} is not valid base64 (expected the base64 of {what})") from None
    if not data:
        raise RequestError(f"{name} is empty (expected the base64 of {what})")
    return data


def clip_keypoints(feature_extractor, data: Any, name: str, config: ServeConfig) -> tuple:
    """One `.pose` (bytes or a path) -> (points, confidence, name) of the model's keypoint layout, within limits."""
    try:
        points, confidence, name = feature_extractor.keypoints(data, name)
    except InvalidPoseError as error:
        raise RequestError(str(error)) from None
    if len(points) > config.max_frames:
        raise RequestError(f"{name}: {len(points)} frames; at most {config.max_frames} per clip", status=413)
    return points, confidence, name


def clip_features(feature_extractor, clips: list[tuple]) -> list[np.ndarray]:
    """(points, confidence, name) clips -> (frames, features) float32, fitted to the model's `max_frames`."""
    try:
        features = feature_extractor.features_from_keypoints_batch(clips)
    except InvalidPoseError as error:
        raise RequestError(str(error)) from None
    return [np.ascontiguousarray(feature_extractor.fit_length(np.asarray(f, dtype=np.float32))) for f in features]


def decode_poses(payload: dict, feature_extractor, config: ServeConfig, key: str = "pose") -> list[np.ndarray]:
    """The request's `"pose"` list -> one (frames, features) array per clip."""
    items = string_list(payload, key, config.max_clips, "a list of base64-encoded .pose files")
    clips = []
    for index, item in enumerate(items):
        name = f'"{key}"[{index}]'
        data = decode_base64(item, name, "a .pose file")
        if is_video(data):
            raise RequestError(f"{name} is a video, not a .pose file: send videos to /api/embed/video")
        clips.append(clip_keypoints(feature_extractor, data, name, config))
    return clip_features(feature_extractor, clips)


def check_texts(payload: dict, config: ServeConfig, key: str = "text") -> list[str]:
    """The request's `"text"` list: strings within the length limit, valid Unicode, known language tags."""
    texts = string_list(payload, key, config.max_texts, 'a list of texts such as "<en> <ase> house"')
    for index, text in enumerate(texts):
        name = f'"{key}"[{index}]'
        if len(text) > config.max_text_chars:
            raise RequestError(f"{name} is {len(text)} characters long; at most {config.max_text_chars}", status=413)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise RequestError(
                f"{name} is not valid Unicode text (a lone surrogate at character {error.start})"
            ) from None
        try:
            validate_prompt(text)
        except ValueError as error:
            raise RequestError(f"{name}: {error}") from None
    return texts


def tokenize(processor, texts: list[str]) -> list[dict[str, list[int]]]:
    """Texts -> per-text token ids (unpadded; the batcher pads), as the processor tokenizes prompts."""
    encoded = processor(text=texts, padding=False, validate_tags=False)
    keys = [key for key in ("input_ids", "attention_mask", "token_type_ids") if key in encoded]
    return [{key: list(encoded[key][index]) for key in keys} for index in range(len(texts))]


__all__ = [
    "RequestError",
    "check_texts",
    "clip_features",
    "clip_keypoints",
    "decode_base64",
    "decode_poses",
    "model_name",
    "one_line",
    "parse_json",
    "string_list",
    "tokenize",
]
