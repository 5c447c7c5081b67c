"""Connecting to Ray and running keyed work items through a Ray Data actor pool, with retries.

Every corpus job here has the same shape: a list of small, independent work items (one video, one Arrow
shard, one length-sorted batch of clips, one recording), each with a unique `key`, and a stateful worker
class (one loaded model or one imported MediaPipe stack per actor) that turns an item into a small result
row and writes its big output itself, atomically, at a name that is a function of the key. So a retried
item (a killed actor, a lost node) rewrites the same bytes at the same name: no output is lost or doubled.

`map_items` streams the items through `Dataset.map_batches` on an `ActorPoolStrategy` pool (actors restart
after a crash and their pending items are retried: Ray Data's `max_restarts=-1`, `max_task_retries=-1`), keeps one
result per key on the driver, and if the Ray job itself fails (e.g. the node holding an intermediate block
died) runs again over the keys still missing, up to `attempts` times.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm

from ..extras import require

@dataclass
class RayConfig:
    """Where and how wide a Ray job runs.

    Attributes:
        address: a cluster address (`ray://host:10001`, `host:6379`, "auto"), or None: the cluster in
            `RAY_ADDRESS` when that is set, else a new Ray instance on this machine.
        workers: actors in the pool; None: as many as the cluster's CPUs (or GPUs) allow.
        num_cpus / num_gpus: resources each actor declares (a MediaPipe graph or a model on a GPU).
        attempts: how often the job is run over the items still missing after a Ray failure.
    """

    address: str | None = None
    workers: int | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    attempts: int = 3

    def __post_init__(self):
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.num_cpus < 0 or self.num_gpus < 0 or (self.num_cpus == 0 and self.num_gpus == 0):
            raise ValueError(
                f"each Ray worker needs some CPUs or GPUs, got num_cpus={self.num_cpus}, num_gpus={self.num_gpus}"
            )


def ray_config_from_args(args) -> RayConfig | None:
    """The `RayConfig` of a command's `--ray [ADDRESS]` / `--ray-workers` / `--ray-gpus` (None: `--ray` not given)."""
    if getattr(args, "ray", None) is None:
        return None
    gpus = float(getattr(args, "ray_gpus", 0.0) or 0.0)
    return RayConfig(
        address=args.ray or None,
        workers=getattr(args, "ray_workers", None),
        num_gpus=gpus,
        num_cpus=0.0 if gpus else 1.0,
    )


def connect(address: str | None = None):
    """The `ray` module, connected: to `address`, else `RAY_ADDRESS`, else a new local instance (quiet)."""
    ray = require("ray", "ray")
    if not ray.is_initialized():
        ray.init(
            address=address or None,  # None: ray reads RAY_ADDRESS, else starts a local instance
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
            configure_logging=True,
            ignore_reinit_error=True,
        )
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the driver's tqdm bar counts the items
    context.print_on_execution_start = False
    return ray


def pool_size(ray, config: RayConfig, num_items: int) -> int:
    """Actors to start: `config.workers`, else what the cluster's resources hold; never more than the items."""
    if config.workers is not None:
        size = config.workers
    else:
        resources = ray.cluster_resources()
        fits = []
        if config.num_cpus:
            fits.append(int(resources.get("CPU", 1) // config.num_cpus))
        if config.num_gpus:
            if resources.get("GPU", 0) < config.num_gpus:
                have = resources.get("GPU", 0)
                raise ValueError(
                    f"the Ray cluster has {have:g} GPU(s), each worker asks for {config.num_gpus:g}: add GPU nodes, "
                    "or give the number of workers to wait for autoscaled ones"
                )
            fits.append(int(resources.get("GPU", 0) // config.num_gpus))
        size = max(1, min(fits))
    return max(1, min(size, num_items))


class _Worker:
    """Wraps a worker class for `map_batches`: a batch holds one item (as JSON); returns its result row (as JSON)."""

    def __init__(self, worker_class, kwargs):
        self.worker = worker_class(**kwargs)

    def __call__(self, batch: dict) -> dict:
        items = [json.loads(text) for text in batch["item"]]
        return {"result": [json.dumps(self.worker(item)) for item in items]}


def map_items(
    items: Sequence[dict],
    worker_class: type,
    kwargs: dict[str, Any],
    config: RayConfig,
    desc: str,
    unit: str = " items",
    on_result: Callable[[dict, dict], None] | None = None,
    weight: Callable[[dict], int] | None = None,
) -> dict[str, dict]:
    """Run `worker_class(**kwargs)(item)` for every item on a Ray actor pool; returns {item key: result}.

    Each item is a JSON-able dict with a unique "key"; each result a JSON-able dict. `on_result(item,
    result)` is called on the driver as each one arrives (to record progress). A key is processed at least
    once and reported exactly once: after a failure of the Ray job, the items without a result are run again.
    """
    by_key = {item["key"]: item for item in items}
    if len(by_key) != len(items):
        raise ValueError("work items must have unique keys")
    if not items:  # all done already (a resumed job): no cluster needed
        return {}
    ray = connect(config.address)
    results: dict[str, dict] = {}
    progress = tqdm(total=sum(map(weight, items)) if weight else len(items), unit=unit, desc=desc)
    with progress:
        for attempt in range(1, config.attempts + 1):
            pending = [json.dumps(item) for key, item in by_key.items() if key not in results]
            if not pending:
                break
            size = pool_size(ray, config, len(pending))
            # a few blocks per actor balance the load; one block is also the unit Ray retries
            blocks = min(len(pending), 16 * size)
            dataset = ray.data.from_items([{"item": text} for text in pending], override_num_blocks=blocks)
            remote = {"num_cpus": config.num_cpus} if config.num_cpus else {}
            if config.num_gpus:
                remote["num_gpus"] = config.num_gpus
            mapped = dataset.map_batches(
                _Worker,
                fn_constructor_kwargs={"worker_class": worker_class, "kwargs": kwargs},
                batch_size=1,
                batch_format="numpy",
                # `size` actors from the start; the pool may shrink to one when a node is lost (it then waits
                # for no resource it cannot get). Ray Data restarts a dead actor (max_restarts=-1) and retries
                # its pending batches (max_task_retries=-1) by default.
                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=size, initial_size=size),
                **remote,
            )
            try:
                for row in mapped.iter_rows():
                    result = json.loads(row["result"])
                    key = result["key"]
                    if key in results:  # a retried item that had already reported: same output, counted once
                        continue
                    results[key] = result
                    if on_result is not None:
                        on_result(by_key[key], result)
                    progress.update(weight(by_key[key]) if weight else 1)
            except ray.exceptions.RayError as error:  # a lost node or object; item failures are results
                if attempt == config.attempts:
                    missing = len(by_key) - len(results)
                    left = f"{missing} {unit.strip()} left"
                    raise OSError(f"the Ray job failed {attempt} times, {left}: {error}") from error
    return results


__all__ = ["RayConfig", "connect", "map_items", "pool_size", "ray_config_from_args"]
