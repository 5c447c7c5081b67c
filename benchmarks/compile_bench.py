"""Contrastive training-step throughput of the demo-sized model, eager vs `torch.compile`.

Same model (offline MiniLM text tower + 4-layer pose tower, hidden 384), same batch of 32 clips at the
gestures' length (30 frames) with 8-token prompts, Adam as in pretraining; the compile time is reported
separately from the steady-state step time.
"""

from __future__ import annotations

import argparse
import time

import torch
from common import best_time, report
from signclip_hf.modeling import signclip_loss

from signclip_hf.model_factory import ModelSpec, build_model, build_processor


def training_step(model, optimizer, batch) -> None:
    loss = signclip_loss(model(**batch).logits_per_pose)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--frames", type=int, default=30)
    args = parser.parse_args()
    spec = ModelSpec(pose_layers=4)
    processor = build_processor(spec)
    text = processor(text=[f"<en> <ase> gesture number {i}" for i in range(args.batch_size)], return_tensors="pt")
    batch = dict(
        text,
        pose_values=torch.randn(args.batch_size, args.frames, 609),
        pose_attention_mask=torch.ones(args.batch_size, args.frames, dtype=torch.long),
    )
    rows = []
    for mode in ("eager", "torch.compile"):
        torch.manual_seed(0)
        model = build_model(spec).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-5, betas=(0.9, 0.98), fused=True)
        runner = torch.compile(model) if mode == "torch.compile" else model
        start = time.perf_counter()
        training_step(runner, optimizer, batch)  # first step: compiles (or warms up)
        first = time.perf_counter() - start
        seconds = best_time(lambda: training_step(runner, optimizer, batch), repeats=5, warmup=1)
        rows.append({"mode": mode, "first step s": first, "step s": seconds, "clips/s": args.batch_size / seconds})
    rows[1]["speedup"] = rows[0]["step s"] / rows[1]["step s"]
    report(f"training step, batch {args.batch_size} x {args.frames} frames, demo-sized model", rows)


if __name__ == "__main__":
    main()
