"""Ray corpus jobs: overhead on one worker vs the single-machine path, 1 -> 2 worker scaling, memory per worker.

- embed (a pose tower of `--hidden` units x `--layers` layers, the gesture clips): the single-machine path
  (`cluster.embed.EmbedWorker` in this process, one torch thread) vs one Ray actor, then two;
- build-dataset: `build_dataset(num_proc=1)` vs `build_dataset_ray` with one actor, then two;
- video-to-pose: `convert_folder(num_proc=1)` vs one Ray actor, then two, over copies of the bundled video;
- memory per worker: the peak RSS each embed actor reports over the bundled sample (120 clips) and over a
  corpus 10x as large (every clip listed 10 times): flat when streamed.

Ray's fixed costs (starting the instance, actors importing torch / MediaPipe, loading the model) are in
`wall_s` only; the overhead and scaling figures are steady state (`units/s`: clips, or video frames, per
second once every actor is busy, from the workers' own clocks), which is what a long corpus job sees. Each
actor is pinned to one CPU and one torch thread, as is the single-machine baseline.

Prints a table and one JSON line. Usage: python benchmarks/ray_bench.py [--quick] [--videos N]
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # every worker (and the baseline) on one thread: a fair 1 vs 2

from common import gestures_root, report  # noqa: E402

from signclip_hf.cluster.embed import EmbedConfig, EmbedWorker, plan_items  # noqa: E402


def timed_class(base: type) -> type:
    """`base` whose results also carry the item's wall-clock start / end, the actor's pid and its peak RSS."""

    class Timed(base):
        def __call__(self, item: dict) -> dict:
            started = time.time()
            result = super().__call__(item)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            return dict(result, t0=started, t1=time.time(), pid=os.getpid(), rss_mb=rss)

    Timed.__name__ = Timed.__qualname__ = f"Timed{base.__name__}"
    return Timed


def steady_rate(results: list[dict], units) -> float:
    """Units per second once every actor is busy: from the latest first-item start of any actor to the last end,
    counting the items that started in that window (actor start-up and model loading excluded)."""
    first = {}
    for r in results:
        first[r["pid"]] = min(first.get(r["pid"], r["t0"]), r["t0"])
    t0 = max(first.values())
    inside = [r for r in results if r["t0"] >= t0]
    span = max(r["t1"] for r in inside) - t0
    return sum(units(r) for r in inside) / span if span > 0 else float("nan")


def on_ray(items, worker_class, kwargs, workers: int, units) -> tuple[float, float, list[dict]]:
    """(steady units/s, wall s, results) of one Ray run of `items` on `workers` actors."""
    from signclip_hf.cluster.runtime import RayConfig, map_items

    started = time.perf_counter()
    results = map_items(items, timed_class(worker_class), kwargs, RayConfig(workers=workers), "bench")
    wall = time.perf_counter() - started
    by_key = {item["key"]: item for item in items}
    results = [dict(r, units=units(by_key[r["key"]])) for r in results.values()]
    return steady_rate(results, lambda r: r["units"]), wall, results


def single(items, worker, units) -> tuple[float, float]:
    """(units/s, wall s) of the items run one after the other in this process."""
    started = time.perf_counter()
    for item in items:
        worker(item)
    wall = time.perf_counter() - started
    return sum(map(units, items)) / wall, wall


def tiny_model(directory: Path, hidden: int, layers: int) -> Path:
    from fixtures.tiny import save_tiny

    return save_tiny(directory, seed=0, hidden_size=hidden, layers=layers)


def repeated_dataset(root: Path, source: Path, times: int, output: Path) -> Path:
    """`source`'s clips listed `times` times (a corpus `times` as large), built as a dataset."""
    from signclip_hf.data import build_dataset

    rows = list(csv.DictReader((source / "metadata.csv").open()))
    root.mkdir(parents=True, exist_ok=True)
    with (root / "metadata.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for _ in range(times):
            writer.writerows({**row, "file": os.path.join(os.fspath(source), row["file"])} for row in rows)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_dataset(root, output=output, allow_outside_root=True, on_duplicate="warn", shard_rows=10_000)
    return output


def bench_embed(work: Path, data: Path, model: Path, rows_per_part: int, rows: list, extra: dict) -> None:
    import torch

    from signclip_hf.data import build_dataset
    from signclip_hf.loading import load_dataset

    dataset_dir = build_dataset(data, output=work / "dataset", shard_rows=10_000)[1].output
    config = EmbedConfig(batch_size=32, rows_per_part=rows_per_part)
    kwargs = {"model": os.fspath(model), "dataset": dataset_dir, "config": vars(config)}
    items = plan_items(load_dataset(dataset_dir), config, os.fspath(work / "parts_single"))
    clips = lambda item: len(item["rows"])  # noqa: E731
    torch.set_num_threads(1)
    started = time.perf_counter()
    worker = EmbedWorker(**kwargs)
    load_s = time.perf_counter() - started
    base, wall = single(items, worker, clips)
    rows.append({"job": "embed", "path": "single machine", "workers": 1, "units/s": round(base, 1),
                 "wall_s": round(wall + load_s, 1)})  # fmt: skip
    rates = {}
    for workers in (1, 2):
        out = work / f"parts_ray{workers}"
        moved = [dict(i, path=os.fspath(out / i["key"])) for i in items]
        rates[workers], wall, _ = on_ray(moved, EmbedWorker, kwargs, workers, clips)
        rows.append({"job": "embed", "path": f"ray, {workers} actor(s)", "workers": workers,
                     "units/s": round(rates[workers], 1), "wall_s": round(wall, 1)})  # fmt: skip
    extra["embed_clips"] = sum(map(clips, items))
    extra["embed_overhead_1_worker"] = round(base / rates[1] - 1, 3)
    extra["embed_scaling_efficiency_1_to_2"] = round(rates[2] / (2 * rates[1]), 3)


def bench_memory(work: Path, model: Path, rows: list, extra: dict) -> None:
    from signclip_hf.loading import load_dataset
    from signclip_hf.sample_data import GESTURES_DIR

    peaks = {}
    for times in (1, 10):
        dataset_dir = repeated_dataset(work / f"corpus{times}", GESTURES_DIR, times, work / f"corpus{times}_ds")
        config = EmbedConfig(batch_size=32, rows_per_part=64)
        kwargs = {"model": os.fspath(model), "dataset": os.fspath(dataset_dir), "config": vars(config)}
        items = plan_items(load_dataset(dataset_dir), config, os.fspath(work / f"corpus{times}_parts"))
        _, wall, results = on_ray(items, EmbedWorker, kwargs, 2, lambda i: len(i["rows"]))
        peaks[times] = max(r["rss_mb"] for r in results)
        rows.append({"job": "embed memory", "path": f"ray, 2 actors, {times}x sample", "workers": 2,
                     "clips": sum(r["units"] for r in results), "wall_s": round(wall, 1),
                     "peak_rss_mb_per_actor": round(peaks[times])})  # fmt: skip
    extra["embed_actor_peak_rss_mb"] = {f"{k}x": round(v) for k, v in peaks.items()}
    extra["memory_growth_10x"] = round(peaks[10] / peaks[1], 3)


def bench_build(work: Path, data: Path, rows: list, extra: dict) -> None:
    from signclip_hf.cluster.build import ShardWorker, shard_items
    from signclip_hf.data.build import BuildConfig, _plan_build

    clips = lambda item: len(item["rows"])  # noqa: E731

    def items_for(output: Path) -> list[dict]:
        plan = _plan_build(os.fspath(data), "metadata.csv", output, BuildConfig(shard_rows=64))
        for name in plan.arrow_files:
            (output / name if name is not None else output).mkdir(parents=True, exist_ok=True)
        return shard_items(plan, {})

    base, wall = single(items_for(work / "build_single"), ShardWorker(), clips)
    rows.append({"job": "build-dataset", "path": "single machine", "workers": 1, "units/s": round(base, 1),
                 "wall_s": round(wall, 1)})  # fmt: skip
    rates = {}
    for workers in (1, 2):
        rates[workers], wall, _ = on_ray(items_for(work / f"build_ray{workers}"), ShardWorker, {}, workers, clips)
        rows.append({"job": "build-dataset", "path": f"ray, {workers} actor(s)", "workers": workers,
                     "units/s": round(rates[workers], 1), "wall_s": round(wall, 1)})  # fmt: skip
    extra["build_overhead_1_worker"] = round(base / rates[1] - 1, 3)
    extra["build_scaling_efficiency_1_to_2"] = round(rates[2] / (2 * rates[1]), 3)


def bench_video(work: Path, copies: int, rows: list, extra: dict) -> None:
    from signclip_hf.cluster.video import VideoWorker
    from signclip_hf.sample_data import TEST_VIDEO

    videos = work / "videos"
    videos.mkdir()
    for i in range(copies):
        shutil.copy(TEST_VIDEO, videos / f"v{i:03d}.mp4")

    def items_for(name: str) -> list[dict]:
        found = sorted(videos.iterdir())
        return [{"key": os.fspath(v), "target": os.fspath(work / name / f"{v.stem}.pose")} for v in found]

    frames = lambda item: 58  # noqa: E731  (the bundled video's frames)
    base, wall = single(items_for("poses_single"), VideoWorker(None), frames)
    rows.append({"job": "video-to-pose", "path": "single machine", "workers": 1, "units/s": round(base, 1),
                 "wall_s": round(wall, 1)})  # fmt: skip
    rates = {}
    for workers in (1, 2):
        items = items_for(f"poses_ray{workers}")
        rates[workers], wall, _ = on_ray(items, VideoWorker, {"max_seconds": None}, workers, frames)
        rows.append({"job": "video-to-pose", "path": f"ray, {workers} actor(s)", "workers": workers,
                     "units/s": round(rates[workers], 1), "wall_s": round(wall, 1)})  # fmt: skip
    extra["video_overhead_1_worker"] = round(base / rates[1] - 1, 3)
    extra["video_scaling_efficiency_1_to_2"] = round(rates[2] / (2 * rates[1]), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="bundled sample, tiny model, 2 videos, no memory run")
    parser.add_argument("--videos", type=int, default=8, help="copies of the bundled video (58 frames each)")
    parser.add_argument("--hidden", type=int, default=256, help="pose tower width of the benchmark model")
    parser.add_argument("--layers", type=int, default=4, help="pose tower layers of the benchmark model")
    parser.add_argument("--skip", action="append", default=[], choices=["embed", "build", "video", "memory"])
    args = parser.parse_args()
    import ray

    from signclip_hf.sample_data import GESTURES_DIR

    data, described = (GESTURES_DIR, "bundled sample") if args.quick else gestures_root()
    hidden, layers = (64, 2) if args.quick else (args.hidden, args.layers)
    rows: list[dict] = []
    extra: dict = {"data": described, "model": f"pose tower {hidden}x{layers}", "shared_machine": True}
    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    extra["ray_init_s"] = round(time.perf_counter() - started, 1)
    with tempfile.TemporaryDirectory(prefix="ray-bench-") as directory:
        work = Path(directory)
        model = tiny_model(work / "model", hidden, layers)
        if "embed" not in args.skip:
            bench_embed(work, data, model, 32 if args.quick else 64, rows, extra)
        if "build" not in args.skip:
            bench_build(work, data, rows, extra)
        if "video" not in args.skip:
            bench_video(work, 2 if args.quick else args.videos, rows, extra)
        if "memory" not in args.skip and not args.quick:
            bench_memory(work, model, rows, extra)
    ray.shutdown()
    report("Ray corpus jobs (local Ray, 2 CPUs; shared machine)", rows, extra)


if __name__ == "__main__":
    main()
