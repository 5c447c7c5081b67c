"""Released-size SignCLIP on one accelerator: training step and inference, ours vs the original scheme.

Released size: two bert-base towers (hidden 768, 12 layers, 12 heads; pose tower input 609 = 203 holistic
points × 3), 217M parameters. Pose lengths follow a Spread-the-Sign-like distribution (mean ~98 frames),
prompts are `<en> <ase> word`-length token sequences.

* ours: bf16 autocast, SDPA attention (flash/memory-efficient kernels on a GPU), length-grouped batches
  padded to the longest clip.
* original scheme (Jiang et al. 2024, fairseq MMPT): every clip padded to 256 frames, fp16 autocast with
  a gradient scaler, eager attention.

Both sides train the same weights on the same clips with Adam; each prints clips/s, MFU (model FLOPs
counted by torch's FlopCounterMode ÷ time ÷ the FLOP/s of a large matmul at the same precision measured
in the same run) and peak memory, plus pose-tower inference clips/s.

    python benchmarks/gpu_bench.py                    # one GPU, under 5 minutes
    python benchmarks/gpu_bench.py --device cpu --quick  # a tiny model on the CPU (CI runs this)
"""

from __future__ import annotations

import argparse
import contextlib
import time
from dataclasses import dataclass

import numpy as np
import torch
from common import proc_status_mb, report, reset_peak_rss, stsl_like_lengths
from signclip_hf.modeling import SignCLIPConfig, SignCLIPModel, signclip_loss
from torch.utils.flop_counter import FlopCounterMode

SIZES = {
    "released": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128),
}
TEXT_TOKENS = 8  # "<en> <ase> house" plus [CLS]/[SEP] in a BERT word-piece vocabulary


@dataclass
class Scheme:
    """How a training step is run: precision, attention kernel and padding."""

    name: str
    dtype: torch.dtype
    attention: str
    pad_to: int | None  # None: pad each length-grouped batch to its longest clip


OURS = Scheme("ours (bf16, SDPA, length-grouped)", torch.bfloat16, "sdpa", None)
ORIGINAL = Scheme("original (fp16 autocast, eager, pad-to-256)", torch.float16, "eager", 256)


def build_model(size: str, attention: str, device: torch.device) -> SignCLIPModel:
    fields = SIZES[size]
    config = SignCLIPConfig(
        pose_config=dict(fields, vocab_size=103, input_dim=609),
        text_config=dict(fields, model_type="bert", vocab_size=28996),
    )
    config._attn_implementation = attention
    torch.manual_seed(0)
    return SignCLIPModel(config).to(device).train()


def make_batches(lengths: np.ndarray, batch_size: int, pad_to: int | None, device: torch.device, seed: int = 0):
    """(pose_values, pose_attention_mask, input_ids) per batch; length-grouped when `pad_to` is None."""
    generator = torch.Generator().manual_seed(seed)
    order = np.argsort(lengths, kind="stable") if pad_to is None else np.arange(len(lengths))
    batches = []
    for start in range(0, len(order) - batch_size + 1, batch_size):
        index = order[start : start + batch_size]
        width = pad_to or int(lengths[index].max())
        mask = torch.from_numpy(np.arange(width)[None] < lengths[index][:, None]).long()
        values = torch.randn(batch_size, width, 609, generator=generator) * mask[..., None]
        input_ids = torch.randint(1000, 28996, (batch_size, TEXT_TOKENS), generator=generator)
        batches.append((values.to(device), mask.to(device), input_ids.to(device)))
    return batches


def autocast(device: torch.device, dtype: torch.dtype):
    if dtype == torch.float32:
        return contextlib.nullcontext()
    if device.type == "cpu" and dtype == torch.float16:
        return torch.autocast("cpu", dtype=torch.bfloat16)  # fp16 autocast is GPU-only; same cost class on CPU
    return torch.autocast(device.type, dtype=dtype)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    else:
        reset_peak_rss()


def peak_memory_mb(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else proc_status_mb("VmHWM")


def step_flops(model: SignCLIPModel, batch, scheme: Scheme, device: torch.device) -> float:
    values, mask, input_ids = batch
    counter = FlopCounterMode(display=False)
    with counter, autocast(device, scheme.dtype):
        loss = signclip_loss(model(input_ids=input_ids, pose_values=values, pose_attention_mask=mask).logits_per_pose)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def train_rows(
    size: str, lengths: np.ndarray, batch_size: int, steps: int, device: torch.device, peak: dict,
    schemes: tuple[Scheme, Scheme] = (OURS, ORIGINAL),
) -> list[dict]:
    """clips/s, MFU and peak memory of `steps` Adam steps for each scheme (first = ours, second = baseline)."""
    rows = []
    for scheme in schemes:
        model = build_model(size, scheme.attention, device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-5, betas=(0.9, 0.98))
        scaler = torch.amp.GradScaler(device.type, enabled=scheme.dtype == torch.float16 and device.type == "cuda")
        batches = make_batches(lengths, batch_size, scheme.pad_to, device)
        flops = np.mean([step_flops(model, b, scheme, device) for b in batches[:2]])
        reset_peak_memory(device)

        def step(batch):
            values, mask, input_ids = batch
            with autocast(device, scheme.dtype):
                logits = model(input_ids=input_ids, pose_values=values, pose_attention_mask=mask).logits_per_pose
                loss = signclip_loss(logits.float())
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            return loss.detach()

        first_loss = float(step(batches[0]))  # warm-up
        synchronize(device)
        start = time.perf_counter()
        for i in range(steps):
            step(batches[(i + 1) % len(batches)])
        synchronize(device)
        seconds = (time.perf_counter() - start) / steps
        rows.append({
            "scheme": scheme.name, "clips/s": batch_size / seconds, "step s": seconds,
            "TFLOP/step": flops / 1e12, "MFU": flops / seconds / peak[scheme.dtype],
            "peak MiB": peak_memory_mb(device), "first-step loss": first_loss,
        })  # fmt: skip
        del model, optimizer
    rows[0]["speedup"] = rows[0]["clips/s"] / rows[1]["clips/s"]
    return rows


def inference_rows(size: str, lengths: np.ndarray, batch_size: int, device: torch.device) -> list[dict]:
    """Pose-tower embeddings per second for each scheme, same clips."""
    rows = []
    for scheme in (OURS, ORIGINAL):
        model = build_model(size, scheme.attention, device).eval()
        batches = make_batches(lengths, batch_size, scheme.pad_to, device)
        reset_peak_memory(device)

        def run():
            with torch.inference_mode(), autocast(device, scheme.dtype):
                for values, mask, _ in batches:
                    model.get_pose_features(values, mask)
            synchronize(device)

        run()  # warm-up
        start = time.perf_counter()
        run()
        seconds = time.perf_counter() - start
        rows.append({
            "scheme": scheme.name, "pose clips/s": len(batches) * batch_size / seconds,
            "peak MiB": peak_memory_mb(device),
        })  # fmt: skip
        del model
    rows[0]["speedup"] = rows[0]["pose clips/s"] / rows[1]["pose clips/s"]
    return rows


def matmul_peak(device: torch.device, dtype: torch.dtype, size: int) -> float:
    """FLOP/s of a large square matmul at `dtype` on `device` (the practical peak for MFU)."""
    if device.type == "cpu" and dtype == torch.float16:
        dtype = torch.bfloat16
    if device.type == "cuda" and dtype == torch.float32:
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 MFU against true fp32 matmuls
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    synchronize(device)
    repeats = 10 if device.type == "cuda" else 3
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="tiny model, few clips: a smoke run (CPU in CI)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    device = torch.device(args.device)
    size = "tiny" if args.quick else "released"
    batch_size, steps = (4, 2) if args.quick else (args.batch_size, args.steps)
    lengths = stsl_like_lengths(batch_size * (steps + 1))
    matmul_size = 512 if args.quick else (8192 if device.type == "cuda" else 2048)
    peak = {dtype: matmul_peak(device, dtype, matmul_size) for dtype in (torch.bfloat16, torch.float16)}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    extra = {"device": name, "size": size, "matmul_tflops": {str(k): v / 1e12 for k, v in peak.items()}}
    title = f"{size} size, batch {batch_size}, {name}"
    report(f"training step ({title})", train_rows(size, lengths, batch_size, steps, device, peak), extra)
    report(f"pose-tower inference ({title})", inference_rows(size, lengths, batch_size, device), extra)


if __name__ == "__main__":
    main()
