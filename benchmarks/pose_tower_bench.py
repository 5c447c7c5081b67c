"""Pose-tower inference at real clip lengths, and model FLOP utilization, at the released size by default.

Ours (length-grouped batches, pad to the longest clip, SDPA) vs the original scheme (every clip padded to
256 frames, eager attention), same weights, same clips, in one run. Targets at the released size (hidden 768,
12 layers, 12 heads, 609 inputs): >= 3.5x on a Spread-the-Sign-like length distribution (mean ~98 frames),
>= 10x on the gestures (real lengths); `--size demo` keeps the earlier demo-size targets (3x, 5x).
MFU of a batch-32 pose-tower forward = model FLOP/s (counted by torch's FlopCounterMode) / FLOP/s of a
large matmul at the same precision, fp32 and bf16. Target >= 0.6 (released size, fp32).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from common import best_time, gesture_files, matmul_flops_per_second, report, stsl_like_lengths
from signclip_hf.modeling import SignCLIPPoseConfig
from signclip_hf.modeling.modeling_signclip import SignCLIPPoseTransformer
from torch.utils.flop_counter import FlopCounterMode

TARGETS = {"demo": {"stsl": 3.0, "gestures": 5.0, "mfu": 0.5}, "released": {"stsl": 3.5, "gestures": 10.0, "mfu": 0.6}}
SIZES = {
    "demo": dict(hidden_size=384, num_hidden_layers=4, num_attention_heads=12, intermediate_size=1536),
    "released": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
}


def build_tower(size: str, attention: str) -> SignCLIPPoseTransformer:
    config = SignCLIPPoseConfig(**SIZES[size], vocab_size=103)
    config._attn_implementation = attention
    torch.manual_seed(0)
    return SignCLIPPoseTransformer(config).eval()


def gesture_lengths(count: int) -> np.ndarray:
    from pose_format import Pose

    return np.array([len(Pose.read(f.read_bytes()).body.data) for f in gesture_files(count)])


def batches(lengths: np.ndarray, batch_size: int, pad_to: int | None, grouped: bool):
    order = np.argsort(lengths, kind="stable") if grouped else np.arange(len(lengths))
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        width = pad_to or int(lengths[index].max())
        mask = torch.from_numpy(np.arange(width)[None] < lengths[index][:, None]).long()
        yield index, mask


def embed_all(tower, clips: torch.Tensor, lengths: np.ndarray, batch_size: int, pad_to: int | None, grouped: bool):
    out = torch.empty(len(lengths), tower.config.hidden_size)
    with torch.inference_mode():
        for index, mask in batches(lengths, batch_size, pad_to, grouped):
            values = clips[index, : mask.shape[1]] * mask[..., None]
            out[index] = tower(values, mask).float()
    return out


def throughput_rows(size: str, count: int, batch_size: int) -> tuple[list[dict], dict]:
    ours, original = build_tower(size, "sdpa"), build_tower(size, "eager")
    original.load_state_dict(ours.state_dict())
    rows, checks = [], {}
    for name, lengths in [("stsl-like (mean ~98)", stsl_like_lengths(count)), ("gestures (real)", gesture_lengths(count))]:
        clips = torch.randn(len(lengths), 256, 609)
        a = embed_all(ours, clips, lengths, batch_size, None, True)
        b = embed_all(original, clips, lengths, batch_size, 256, False)
        checks[name] = float((a - b).abs().max())
        t_ours = best_time(lambda: embed_all(ours, clips, lengths, batch_size, None, True), repeats=2)
        t_orig = best_time(lambda: embed_all(original, clips, lengths, batch_size, 256, False), repeats=1)
        rows.append({
            "lengths": name, "mean frames": float(lengths.mean()), "original clips/s": len(lengths) / t_orig,
            "ours clips/s": len(lengths) / t_ours, "speedup": t_orig / t_ours,
            "target": TARGETS[size]["stsl" if "stsl" in name else "gestures"],
        })  # fmt: skip
    return rows, {"max_abs_diff_ours_vs_original": checks}


def mfu_rows(size: str, dtypes: list[str], frames: int = 128) -> list[dict]:
    rows = []
    for dtype in (getattr(torch, name) for name in dtypes):
        tower = build_tower(size, "sdpa").to(dtype)
        values = torch.randn(32, frames, 609, dtype=dtype)
        mask = torch.ones(32, frames, dtype=torch.long)
        with torch.inference_mode():
            counter = FlopCounterMode(display=False)
            with counter:
                tower(values, mask)
            seconds = best_time(lambda: tower(values, mask), repeats=3)
        peak = matmul_flops_per_second(dtype)
        achieved = counter.get_total_flops() / seconds
        rows.append({
            "dtype": str(dtype).removeprefix("torch."), "batch": 32, "frames": frames,
            "model GFLOP/s": achieved / 1e9, "matmul GFLOP/s": peak / 1e9, "MFU": achieved / peak, "target": TARGETS[size]["mfu"],
        })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="released")
    parser.add_argument("--clips", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--mfu-dtypes", nargs="+", choices=["float32", "bfloat16"], default=["float32", "bfloat16"])
    args = parser.parse_args()
    rows, extra = throughput_rows(args.size, args.clips, args.batch_size)
    report(f"pose-tower inference ({args.size} size), ours vs pad-to-256 eager", rows, extra)
    report(f"pose-tower MFU ({args.size} size)", mfu_rows(args.size, args.mfu_dtypes))


if __name__ == "__main__":
    main()
