"""Pose dataset benchmark on ../shared/data/gestures (1,690 real clips): build throughput, memory flatness and read throughput.

- build throughput (clips/s) and peak RSS for 10% vs 100% of the clips (and 300%: every clip thrice),
  each build in its own subprocess (peak RSS = max of the process's and its pool workers' `ru_maxrss`;
  also the sampled peak of anonymous memory, i.e. without the memory-mapped Arrow file pages),
  target >= 200 clips/s and memory that does not grow with the number of clips;
- reading shuffled, length-grouped batches of 64 through `SignCLIPCollator` (real feature extractor +
  MiniLM tokenizer), target >= 2,000 clips/s; via `PoseRows` and, for comparison, numpy format;
- padding waste of `LengthGroupedBatchSampler` vs random batching, target <= 10% of frames.

Prints a table and one JSON line. Skips (exit 0) if the data folder is absent.
Usage: python benchmarks/dataset_bench.py [--data DIR] [--num-proc 2] [--epochs 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gestures"


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (less sensitive to a busy machine)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peak_rss_mb() -> float:
    """Peak RSS (MiB) of this process and of its finished child processes (Linux: ru_maxrss in KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


class AnonymousPeak:
    """Samples this process's anonymous RSS (heap, not memory-mapped file pages) every 10 ms; keeps the peak (MiB)."""

    def __init__(self):
        self.peak = 0.0
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("RssAnon:"):
                        self.peak = max(self.peak, int(line.split()[1]) / 1024)
            time.sleep(0.01)


def child_build(data: Path, fraction: float, output: Path, num_proc: int) -> None:
    """Run in a subprocess: build `fraction` of the clips and print one JSON line."""
    anonymous = AnonymousPeak()
    from signclip_hf.data import build_dataset

    import_rss = peak_rss_mb()
    with open(data / "metadata.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # fraction < 1: every n-th clip (all signers and labels); > 1: the whole list repeated
    chosen = rows[:: max(1, round(1 / fraction))] if fraction <= 1 else rows * round(fraction)
    subset = output.parent / f"metadata-{fraction}.csv"
    with open(subset, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(chosen)
    start, cpu_start = time.perf_counter(), cpu_seconds()
    _, report = build_dataset(data, metadata=subset, output=output, num_proc=num_proc)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    print(json.dumps({
        "clips": report.stored, "skipped": len(report.skipped), "seconds": seconds,
        "clips_per_s": report.stored / seconds, "clips_per_cpu_s": report.stored / cpu,
        "peak_rss_mb": peak_rss_mb(), "rss_after_import_mb": import_rss,
        "peak_anonymous_rss_mb": anonymous.peak,
    }))


def run_build(data: Path, fraction: float, output: Path, num_proc: int) -> dict:
    command = [sys.executable, __file__, "--child-build", str(fraction), "--output", str(output),
               "--data", str(data), "--num-proc", str(num_proc)]
    env = dict(os.environ, HF_DATASETS_DISABLE_PROGRESS_BARS="1")
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def read_throughput(dataset_dir: Path, batch_size: int, epochs: int) -> dict:
    from torch.utils.data import DataLoader

    from signclip_hf.data import LengthGroupedBatchSampler, PoseRows, SignCLIPCollator, load_saved

    from fixtures.tiny import tiny_processor

    dataset = load_saved(dataset_dir)
    collator = SignCLIPCollator(tiny_processor())
    sampler = LengthGroupedBatchSampler.from_dataset(dataset, batch_size, seed=0)
    rows = PoseRows(dataset)
    setups = {
        "PoseRows, main process": (rows, 0),
        "PoseRows, 2 DataLoader workers": (rows, 2),
        "numpy format, main process": (dataset.with_format("numpy"), 0),
    }
    results = {}
    for name, (source, workers) in setups.items():
        loader = DataLoader(
            source, batch_sampler=sampler, collate_fn=collator, num_workers=workers, persistent_workers=workers > 0
        )
        next(iter(loader))  # start the workers (and touch the code paths) before timing
        clips, start, cpu_start = 0, time.perf_counter(), time.process_time()
        for epoch in range(epochs):
            sampler.set_epoch(epoch)
            for batch in loader:
                clips += batch["pose_values"].shape[0]
        results[name] = {
            "clips_per_s": clips / (time.perf_counter() - start),
            "clips_per_cpu_s": clips / (time.process_time() - cpu_start) if workers == 0 else None,
        }
    return results


def padding(dataset_dir: Path, batch_size: int, epochs: int) -> dict:
    import numpy as np

    from signclip_hf.data import LengthGroupedBatchSampler, load_saved, padding_waste

    dataset = load_saved(dataset_dir)
    lengths = np.asarray(dataset["num_frames"])
    sampler = LengthGroupedBatchSampler(lengths, batch_size, seed=0)
    grouped, random = [], []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        grouped.append(padding_waste(lengths, list(sampler)))
        order = np.random.default_rng(epoch).permutation(len(lengths))
        random.append(padding_waste(lengths, [order[i : i + batch_size] for i in range(0, len(order), batch_size)]))
    return {"grouped": float(np.mean(grouped)), "random": float(np.mean(random)),
            "min_frames": int(lengths.min()), "max_frames": int(lengths.max())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--num-proc", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--child-build", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_build is not None:
        child_build(args.data, args.child_build, args.output, args.num_proc)
        return 0
    if not (args.data / "metadata.csv").is_file():
        print(f"dataset_bench: skipped, no data at {args.data} (needs ../shared/data/gestures with metadata.csv)")
        return 0

    with tempfile.TemporaryDirectory(prefix="dataset-bench-") as work:
        work = Path(work)
        builds = {}
        runs = [(fraction, num_proc) for fraction in (0.1, 1.0) for num_proc in sorted({1, args.num_proc})]
        for fraction, num_proc in runs + [(3.0, args.num_proc)]:  # 300%: each clip three times
            output = work / f"ds-{fraction}-{num_proc}"
            builds[(fraction, num_proc)] = run_build(args.data, fraction, output, num_proc)
        full = work / f"ds-1.0-{args.num_proc}"
        reads = read_throughput(full, args.batch_size, args.epochs)
        waste = padding(full, args.batch_size, epochs=10)

    load = os.getloadavg()[0]
    print(f"dataset_bench on {args.data} ({os.cpu_count()} CPUs, load average {load:.1f} at the end)")
    print(f"{'measure':<70} {'value':>12}  target")
    for (fraction, num_proc), b in builds.items():
        label = f"build {fraction:.0%} ({b['clips']} clips), num_proc={num_proc}"
        speed = f"{b['clips_per_s']:.0f} ({b['clips_per_cpu_s']:.0f})"
        print(f"{label + ': clips/s (per CPU-second)':<70} {speed:>12}  >= 200")
        rss = f"{b['peak_rss_mb']:.0f} ({b['rss_after_import_mb']:.0f})"
        print(f"{label + ': peak RSS MiB (after imports)':<70} {rss:>12}  flat in clips")
        print(f"{label + ': peak anonymous RSS MiB':<70} {b['peak_anonymous_rss_mb']:>12.0f}")
    for name, value in reads.items():
        speed = f"{value['clips_per_s']:.0f}"
        if value["clips_per_cpu_s"]:
            speed += f" ({value['clips_per_cpu_s']:.0f})"
        label = f"read batch {args.batch_size} + collator, {name}: clips/s (per CPU-second)"
        print(f"{label:<70} {speed:>12}  >= 2000")
    print(f"{'padding waste, length-grouped sampler':<70} {waste['grouped']:>12.1%}  <= 10%")
    print(f"{'padding waste, random batching':<70} {waste['random']:>12.1%}")
    print("note: peak RSS is ru_maxrss (includes memory-mapped file pages); anonymous RSS is the heap only")
    print(json.dumps({
        "builds": [{"fraction": f, "num_proc": n, **b} for (f, n), b in builds.items()],
        "read_clips_per_s": reads, "padding_waste": waste, "batch_size": args.batch_size, "load_average": load,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
