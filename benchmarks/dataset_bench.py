"""Pose dataset benchmark on ../shared/data/gestures (1,690 real clips): build throughput, memory flatness and read throughput.

- build throughput (clips/s) and peak RSS for 10% vs 100% of the clips (and 300%: every clip thrice),
  each build in its own subprocess (peak RSS = max of the process's and its pool workers' `ru_maxrss`;
  also the sampled peak of anonymous memory, i.e. without the memory-mapped Arrow file pages),
  target >= 200 clips/s and memory that does not grow with the number of clips;
- reading shuffled, length-grouped batches of 64 through `SignCLIPCollator` (real feature extractor +
  MiniLM tokenizer), target >= 2,000 clips/s; via `PoseRows` and, for comparison, numpy format;
- padding waste of `LengthGroupedBatchSampler` vs random batching, target <= 10% of frames.

With `--compare-writers`, only the build: `build_dataset` (each shard streamed by the private `ArrowWriter`
straight to its final file) against the public `datasets` APIs (one `Dataset.from_generator` per shard of the
same plan, then `concatenate_datasets` + `save_to_disk(num_shards=...)`), on the same clips (100% and 300%),
each in its own subprocess.

Prints a table and one JSON line. Skips (exit 0) if the data folder is absent.
Usage: python benchmarks/dataset_bench.py [--data DIR] [--num-proc 2] [--epochs 3] [--compare-writers]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import SHARED_GESTURES, MemorySampler, cpu_seconds, peak_rss_mb

WRITERS = ("build_dataset", "public_api")  # --compare-writers: the package's ArrowWriter path vs public `datasets` APIs


def _public_api_shard(shard) -> tuple[str, list[str]]:
    """One shard of the plan through `Dataset.from_generator` into its own cache under `.shards/` in the output;
    returns (the shard's name, its cache files)."""
    import functools

    from datasets import Dataset

    from signclip_hf.data.build import _examples

    examples = functools.partial(_examples, root=shard.root, keypoint_layout=shard.keypoint_layout, skipped=[])
    dataset = Dataset.from_generator(
        examples,
        features=shard.features,
        gen_kwargs={"rows": shard.rows},
        cache_dir=os.path.join(shard.output, ".shards", shard.name),
        writer_batch_size=shard.writer_batch_size,
    )
    return shard.name, [f["filename"] for f in dataset.cache_files]


def public_api_build(data: Path, metadata: Path, output: Path, num_proc: int) -> tuple[int, int]:
    """The alternative to `build_dataset`'s ArrowWriter, for comparison: its plan with each shard written by
    `Dataset.from_generator` (in `num_proc` processes), then each split's shards `concatenate_datasets` +
    `save_to_disk(num_shards=...)` and the staging folder removed; returns (stored, skipped)."""
    import multiprocessing
    import shutil

    from datasets import Dataset, DatasetDict, concatenate_datasets

    from signclip_hf.data.build import BuildConfig, _plan_build

    plan = _plan_build(os.fspath(data), metadata, output, BuildConfig(num_proc=num_proc))
    with multiprocessing.get_context("fork").Pool(num_proc) as pool:
        cache_files = dict(pool.map(_public_api_shard, plan.shards))
    splits = {}
    for split, arrow_files in plan.arrow_files.items():
        shards = [f"{split}/{file}" if split is not None else file for file in arrow_files]
        splits[split] = concatenate_datasets([Dataset.from_file(f) for shard in shards for f in cache_files[shard]])
    num_shards = {split: len(files) for split, files in plan.arrow_files.items()}
    if None in splits:
        splits[None].save_to_disk(output, num_shards=num_shards[None], num_proc=num_proc)
    else:
        DatasetDict(splits).save_to_disk(output, num_shards=num_shards, num_proc=num_proc)
    shutil.rmtree(output / ".shards")
    stored = sum(len(split) for split in splits.values())
    return stored, len(plan.rows) - stored


def child_build(data: Path, fraction: float, output: Path, num_proc: int, writer: str = "build_dataset") -> None:
    """Run in a subprocess: build `fraction` of the clips with `writer` and print one JSON line."""
    anonymous = MemorySampler("RssAnon")
    from signclip_hf.data import build_dataset

    import_rss = peak_rss_mb(children=True)
    with open(data / "metadata.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # fraction < 1: every n-th clip (all signers and labels); > 1: the whole list repeated
    chosen = rows[:: max(1, round(1 / fraction))] if fraction <= 1 else rows * round(fraction)
    subset = output.parent / f"metadata-{fraction}.csv"
    with open(subset, "w", newline="") as handle:
        table = csv.DictWriter(handle, fieldnames=list(rows[0]))
        table.writeheader()
        table.writerows(chosen)
    start, cpu_start = time.perf_counter(), cpu_seconds()
    if writer == "build_dataset":
        _, report = build_dataset(data, metadata=subset, output=output, num_proc=num_proc)
        stored, skipped = report.stored, len(report.skipped)
    else:
        stored, skipped = public_api_build(data, subset, output, num_proc)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    print(json.dumps({
        "clips": stored, "skipped": skipped, "seconds": seconds,
        "clips_per_s": stored / seconds, "clips_per_cpu_s": stored / cpu,
        "peak_rss_mb": peak_rss_mb(children=True), "rss_after_import_mb": import_rss,
        "peak_anonymous_rss_mb": anonymous.peak,
    }))


def run_build(data: Path, fraction: float, output: Path, num_proc: int, writer: str = "build_dataset") -> dict:
    command = [sys.executable, __file__, "--child-build", str(fraction), "--output", str(output),
               "--data", str(data), "--num-proc", str(num_proc), "--writer", writer]
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


def compare_writers(data: Path, num_proc: int) -> int:
    """Build 100% and 300% of the clips with both writers; print a table and one JSON line."""
    with tempfile.TemporaryDirectory(prefix="dataset-bench-") as work:
        builds = {
            (writer, fraction): run_build(data, fraction, Path(work) / f"{writer}-{fraction}", num_proc, writer)
            for fraction in (1.0, 3.0)
            for writer in WRITERS
        }
    print(f"dataset_bench --compare-writers on {data} ({os.cpu_count()} CPUs, num_proc={num_proc})")
    print(f"{'writer, clips':<40} {'clips/s':>8} {'per CPU-s':>10} {'peak anon RSS MiB':>18}")
    for (writer, _), b in builds.items():
        label = f"{writer}, {b['clips']}"
        print(f"{label:<40} {b['clips_per_s']:>8.0f} {b['clips_per_cpu_s']:>10.0f} {b['peak_anonymous_rss_mb']:>18.0f}")
    for fraction in (1.0, 3.0):
        ratio = builds[("public_api", fraction)]["seconds"] / builds[("build_dataset", fraction)]["seconds"]
        print(f"public_api / build_dataset time at {fraction:.0%}: {ratio:.2f}x")
    print(json.dumps({"writers": [{"writer": w, "fraction": f, **b} for (w, f), b in builds.items()]}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_GESTURES)
    parser.add_argument("--num-proc", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--compare-writers", action="store_true", help="only compare the two dataset writers")
    parser.add_argument("--child-build", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--writer", choices=WRITERS, default="build_dataset", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_build is not None:
        child_build(args.data, args.child_build, args.output, args.num_proc, args.writer)
        return 0
    if not (args.data / "metadata.csv").is_file():
        print(f"dataset_bench: skipped, no data at {args.data} (needs ../shared/data/gestures with metadata.csv)")
        return 0
    if args.compare_writers:
        return compare_writers(args.data, args.num_proc)

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
