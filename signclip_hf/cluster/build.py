"""`build-dataset --ray`: the Arrow shards of a pose dataset written by a Ray actor pool.

The build is planned on the driver exactly as on one machine (`signclip_hf.data.build`: the CSV checked,
splits decided, rows cut into shards, `build_report.json` started), then each shard is one work item: an
actor streams its clips into `data-0000i-of-0000n.arrow` under a scratch name renamed when complete, and
the driver records it in the report as it lands (an interrupted build resumes from the finished shards).
The result is the single-machine build's folder, file for file: `datasets.load_from_disk` (or
`signclip_hf.loading.load_dataset`) reads it, row for row equal, bad files reported the same way. Clips
that are videos are extracted by the actor that writes their shard (through its node's pose cache). The
output folder must be one that every node sees (local for one machine, else a shared filesystem).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace

from .runtime import RayConfig, connect, map_items, pool_size


class ShardWorker:
    """One Ray actor: an item (one shard of the plan) -> the shard written, and its report record."""

    def __call__(self, item: dict) -> dict:
        from datasets import Features

        from ..data.build import _Shard, _write_shard

        shard = _Shard(
            item["output"], item["key"], item["rows"], item["root"], item["keypoint_layout"],
            Features.from_dict(item["features"]), item["writer_batch_size"],
        )  # fmt: skip
        name, record = _write_shard(shard)
        return {"key": name, "record": record}


def shard_items(plan, done: dict) -> list[dict]:
    """The work items of a build plan: its shards not in `done`, as JSON-able dicts."""
    features = plan.features.to_dict()
    return [
        {
            "key": shard.name, "rows": shard.rows, "output": shard.output, "root": shard.root, "features": features,
            "keypoint_layout": shard.keypoint_layout, "writer_batch_size": shard.writer_batch_size,
        }
        for shard in plan.shards
        if shard.name not in done
    ]  # fmt: skip


def build_dataset_ray(root, metadata="metadata.csv", output=None, config=None, ray_config: RayConfig | None = None):
    """As `signclip_hf.data.build_dataset` (same arguments, same result and report), shards written on Ray."""
    from ..data.build import REPORT_FILE, BuildConfig, _finish_build, _plan_build, _prepare_output, _replace_text

    start = time.perf_counter()
    root = os.fspath(root)
    config = config or BuildConfig()
    ray_config = ray_config or RayConfig()
    # the plan is cut for the pool's width, as `num_proc` cuts it on one machine (same rows, same order)
    width = pool_size(connect(ray_config.address), ray_config, 1 << 30)
    plan = _plan_build(root, metadata, output, replace(config, num_proc=max(config.num_proc, width)))
    done = _prepare_output(plan.target, plan.fingerprint, plan.files)
    resumed_shards = len(done)
    for name in plan.arrow_files:
        (plan.target / name if name is not None else plan.target).mkdir(exist_ok=True)
    items = shard_items(plan, done)
    in_progress = {"status": "in progress", "fingerprint": plan.fingerprint, "files": plan.files, "shards": done}

    def landed(item: dict, result: dict) -> None:
        done[result["key"]] = result["record"]
        _replace_text(plan.target / REPORT_FILE, json.dumps(in_progress, indent=2))  # survives a kill from now on

    clips = lambda item: len(item["rows"])  # noqa: E731
    map_items(items, ShardWorker, {}, ray_config, "Building the pose dataset (Ray)", " clips", landed, clips)
    return _finish_build(plan, done, resumed_shards, start)


__all__ = ["ShardWorker", "build_dataset_ray", "shard_items"]
