"""`ServeConfig`: every limit and switch of `signclip-hf serve`, in one place (standard library only).

The command line's flags are built from these fields' defaults, so the two never disagree.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

API_KEY_ENV = "SIGNCLIP_API_KEY"
MIB = 1024 * 1024


@dataclass(frozen=True)
class ServeConfig:
    """Limits, batching and access settings of the embedding service.

    Limits (a request over any of them is answered 413 or 400, naming the limit):
        max_request_bytes: the whole HTTP body (a 256-frame MediaPipe Holistic `.pose` is ~2.4 MB, ~3.2 MB in
            base64).
        max_clips: poses (or videos) per request.
        max_frames: frames per clip (longer clips are refused; within it, clips longer than the model's
            `max_frames` follow its feature extractor's `long_clip_policy`).
        max_texts: texts per request.
        max_text_chars: characters per text (prompts are cut at 63 tokens anyway).
        max_video_seconds: duration of an uploaded video (None: any).
        video_workers: videos extracted at the same time (MediaPipe is CPU-heavy; the others wait).
        video_cache_dir: pose cache of extracted videos (None: no cache; "" keeps the package default,
            `SIGNCLIP_HF_POSE_CACHE` or `~/.cache/signclip_hf/poses`).

    Dynamic batching (per model and tower):
        batching: gather concurrent requests into one forward pass; False: one request per forward pass
            (its own clips together, as the original does).
        max_wait_ms: how long the first request of a batch waits for others (only while other requests are
            still being decoded: a lone request never waits).
        max_batch_clips / max_batch_texts: rows per forward pass.
        max_batch_frames: padded frames per pose forward pass (rows × longest clip), bounding its memory;
            a gathered batch is split by length to stay under it.
        decode_threads: threads that decode and validate requests (outside the forward passes).

    Access:
        api_key: when set, `/api/*` needs it in `Authorization: Bearer KEY` or `X-API-Key: KEY`
            (default: `$SIGNCLIP_API_KEY`; empty: open, as the original).
        cors_origins: origins allowed by CORS (the original allows "*").
        device: where the models run ("cpu", "cuda", "cuda:1", ...).
        torch_threads: torch's intra-op threads in each server process (None: torch's default, one per core;
            on a shared or oversubscribed CPU, 1 is often much faster).
    """

    max_request_bytes: int = 64 * MIB
    max_clips: int = 64
    max_frames: int = 4096
    max_texts: int = 1024
    max_text_chars: int = 1000
    max_video_seconds: float | None = 60.0
    video_workers: int = 1
    video_cache_dir: str | None = ""
    batching: bool = True
    max_wait_ms: float = 5.0
    max_batch_clips: int = 32
    max_batch_texts: int = 128
    max_batch_frames: int = 32 * 256
    decode_threads: int = 4
    api_key: str | None = field(default_factory=lambda: os.environ.get(API_KEY_ENV) or None, repr=False)
    cors_origins: tuple[str, ...] = ("*",)
    device: str = "cpu"
    torch_threads: int | None = None

    def __post_init__(self):
        for name in (
            "max_request_bytes", "max_clips", "max_frames", "max_texts", "max_text_chars", "video_workers",
            "max_batch_clips", "max_batch_texts", "max_batch_frames", "decode_threads",
        ):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ServeConfig.{name} must be a whole number >= 1, got {value!r}")
        if self.torch_threads is not None and (not isinstance(self.torch_threads, int) or self.torch_threads < 1):
            raise ValueError(
                f"ServeConfig.torch_threads must be a whole number >= 1 or None, got {self.torch_threads!r}"
            )
        if not 0 <= self.max_wait_ms <= 1000:
            raise ValueError(f"ServeConfig.max_wait_ms must be between 0 and 1000, got {self.max_wait_ms!r}")
        if self.max_video_seconds is not None and not self.max_video_seconds > 0:
            raise ValueError(f"ServeConfig.max_video_seconds must be > 0 or None, got {self.max_video_seconds!r}")
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))

    def to_dict(self) -> dict:
        return asdict(self)


__all__ = ["API_KEY_ENV", "ServeConfig"]
