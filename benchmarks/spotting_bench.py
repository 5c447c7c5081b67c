"""Sign spotting speed and memory: a 10-minute recording at 25 fps, 3 window sizes, stride 4, 100 queries.

- `spot` (windows normalized per window in vectorized batches, length-grouped, text embedded once) vs a
  straightforward loop that embeds one window at a time through the processor and the model. The loop
  is timed on `--loop-windows` windows and extrapolated per window (the full loop would take hours);
  two loops: "pose loop" (processor on the window's `Pose`, `get_pose_features`, `score` against text
  embedded once) and "model-card loop" (`processor(text=prompts, poses=[window])` + `model(**inputs)`
  for each window, which also re-embeds the prompts every time).
- Peak RSS of spotting 1 minute vs 10 minutes of recording, each in its own subprocess.
- Seconds of spotting per minute of recording, on `--threads` torch threads (2 = the 2-core target).

The recording concatenates real gesture clips of ../shared/data (or the bundled sample) with short
pauses, played at 25 fps. The model has the demo's size (MiniLM text tower, hidden 384, 4 pose layers).

    python benchmarks/spotting_bench.py [--minutes 10] [--loop-windows 60]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import gesture_files, proc_status_mb, report

WINDOWS = (16, 32, 48)
STRIDE = 4
FPS = 25.0


def make_long_recording(path: Path, frames: int) -> None:
    """Real clips (cycled) with 3-8 frame pauses of missing frames, relabelled to 25 fps, cut to `frames`."""
    from pose_format import Pose

    from signclip_hf.spotting.synthetic import concatenate_clips

    files = gesture_files()
    rng = np.random.default_rng(0)
    chosen = [files[i] for i in rng.integers(0, len(files), size=frames // 20 + 1)]  # clips are 20-30 frames
    pose, _ = concatenate_clips(chosen, [f.parent.name for f in chosen], pause_frames=(3, 8), seed=0)
    body = pose.body[:frames]
    body.fps = FPS
    with open(path, "wb") as handle:
        Pose(pose.header, body).write(handle)


def queries(count: int = 100) -> list[str]:
    """`count` distinct English words from the text tower's vocabulary (deterministic)."""
    from transformers import AutoTokenizer

    from signclip_hf.model_factory import default_text_model

    vocab = AutoTokenizer.from_pretrained(default_text_model()).get_vocab()
    words = sorted(w for w in vocab if w.isalpha() and w.islower() and len(w) >= 4)
    return [words[i] for i in np.linspace(0, len(words) - 1, count).astype(int)]


def worker(args: argparse.Namespace) -> None:
    """Spot in one recording in this process; print seconds, windows and peak RSS as JSON."""
    from transformers import AutoModel, AutoProcessor

    from signclip_hf.spotting import SpottingConfig, spot

    torch.set_num_threads(args.threads)
    model, processor = AutoModel.from_pretrained(args.model).eval(), AutoProcessor.from_pretrained(args.model)
    started = time.perf_counter()
    result = spot(model, processor, args.recording, queries(args.queries),
                  SpottingConfig(windows=WINDOWS, stride=STRIDE, batch_size=args.batch_size), progress=False)  # fmt: skip
    seconds = time.perf_counter() - started
    windows = sum(len(c.starts) for c in result.curves) + result.skipped_windows
    print(json.dumps({"seconds": seconds, "windows": windows, "frames": result.num_frames, "peak_rss_mb": proc_status_mb("VmHWM"),
                      "detections": len(result.detections)}))  # fmt: skip


def run_worker(args: argparse.Namespace, model_dir: Path, recording: Path) -> dict:
    command = [sys.executable, __file__, "--worker", "--model", str(model_dir), "--recording", str(recording),
               "--threads", str(args.threads), "--queries", str(args.queries), "--batch-size", str(args.batch_size)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=Path(__file__).parent)
    return json.loads(done.stdout.strip().splitlines()[-1])


@torch.no_grad()
def loop_seconds_per_window(
    model, processor, recording: Path, prompts: list[str], count: int, model_card: bool
) -> float:
    """Seconds per window of the one-window-at-a-time loop, over `count` windows spread over the recording."""
    from pose_format import Pose

    from signclip_hf.embedding import embed_texts

    pose = Pose.read(recording.read_bytes())
    total = len(pose.body.data)
    text = torch.from_numpy(embed_texts(model, processor, prompts))
    picks = [(WINDOWS[i % 3], int(s)) for i, s in enumerate(np.linspace(0, total - max(WINDOWS), count))]
    started = time.perf_counter()
    for size, start in picks:
        window = Pose(pose.header, pose.body[start : start + size])
        try:
            if model_card:
                model(**processor(text=prompts, poses=[window], return_tensors="pt")).logits_per_pose.numpy()
            else:
                inputs = processor(poses=[window], return_tensors="pt")
                model.score(model.get_pose_features(inputs["pose_values"], inputs["pose_attention_mask"]).pooler_output, text).numpy()
        except ValueError:  # a window inside a pause (no shoulders): the loop skips it too
            continue
    return (time.perf_counter() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--loop-windows", type=int, default=60)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--recording", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    from signclip_hf.modeling import format_prompt

    from signclip_hf.model_factory import ModelSpec, build_model, build_processor
    from signclip_hf.spotting.windows import count_windows

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="spotting_bench_"))
    spec = ModelSpec(pose_layers=4)
    model, processor = build_model(spec).eval(), build_processor(spec)
    model.save_pretrained(work / "model")
    processor.save_pretrained(work / "model")
    long_frames = int(args.minutes * 60 * FPS)
    make_long_recording(work / "long.pose", long_frames)
    make_long_recording(work / "one_minute.pose", int(60 * FPS))
    prompts = [format_prompt(q) for q in queries(args.queries)]

    short = run_worker(args, work / "model", work / "one_minute.pose")
    long = run_worker(args, work / "model", work / "long.pose")
    windows = count_windows(long_frames, WINDOWS, STRIDE)
    pose_loop = loop_seconds_per_window(model, processor, work / "long.pose", prompts, args.loop_windows, False)
    card_loop = loop_seconds_per_window(
        model, processor, work / "long.pose", prompts, max(6, args.loop_windows // 10), True
    )
    batched = long["seconds"] / long["windows"]
    rows = [
        {"method": "spot (batched, vectorized windows)", "s/window": batched, "total s": long["seconds"], "speedup": 1.0},
        {"method": f"pose loop (timed on {args.loop_windows} windows, extrapolated)", "s/window": pose_loop,
         "total s": pose_loop * windows, "speedup": pose_loop / batched},
        {"method": f"model-card loop (timed on {max(6, args.loop_windows // 10)} windows, extrapolated)",
         "s/window": card_loop, "total s": card_loop * windows, "speedup": card_loop / batched},
    ]  # fmt: skip
    memory = {
        "peak_rss_mb_1min": short["peak_rss_mb"],
        f"peak_rss_mb_{args.minutes:g}min": long["peak_rss_mb"],
        "rss_ratio": long["peak_rss_mb"] / short["peak_rss_mb"],
        "seconds_per_minute_of_recording": long["seconds"] / args.minutes,
        "one_minute_seconds": short["seconds"],
        "windows": windows,
        "queries": args.queries,
        "threads": args.threads,
    }
    report(f"sign spotting, {args.minutes:g} min at 25 fps, windows {WINDOWS}, stride {STRIDE}", rows, memory)
    print(f"peak RSS: 1 min {short['peak_rss_mb']:.0f} MB, {args.minutes:g} min {long['peak_rss_mb']:.0f} MB "
          f"(ratio {memory['rss_ratio']:.3f}); {memory['seconds_per_minute_of_recording']:.1f} s per minute of "
          f"recording on {args.threads} threads")  # fmt: skip


if __name__ == "__main__":
    main()
