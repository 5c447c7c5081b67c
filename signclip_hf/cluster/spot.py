"""`spot` over a folder of recordings: one result set (JSON) per recording, resumable, on one machine or on Ray.

Every `.pose` under the folder (recursively, sorted) is spotted with the package's `spotting.spot` and its
result written to `OUTPUT/<same relative path>.json`, under a scratch name renamed when complete; a
recording whose JSON exists is skipped (resume). A recording that cannot be read or is too short is
listed with its reason in `OUTPUT/spot_errors.tsv`; the others go on. On Ray each actor loads the model once.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import paths
from .runtime import RayConfig, map_items

ERRORS_FILE = "spot_errors.tsv"


@dataclass
class FolderReport:
    """What a folder run did: recordings spotted, already done (resume), failed with their reason."""

    spotted: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    detections: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            f"spotted {len(self.spotted)} recording(s) ({self.detections} detections) in {self.seconds:.1f}s, "
            f"{len(self.existing)} already done, {len(self.failed)} failed" + (":" if self.failed else "")
        ]
        lines.extend(f"  {name}: {reason}" for name, reason in sorted(self.failed.items()))
        return "\n".join(lines)


class SpotWorker:
    """One worker (a Ray actor, or the one process): the model loaded once; an item -> its recording's JSON."""

    def __init__(self, model: str, queries: list[str], config: dict):
        from ..loading import load_model
        from ..spotting.spot import SpottingConfig

        import torch

        self.model, self.processor = load_model(model)
        if torch.cuda.is_available():  # a GPU actor (`--ray-gpus`): Ray sets CUDA_VISIBLE_DEVICES to its own
            self.model.to("cuda")
        self.queries = queries
        self.config = SpottingConfig(**config)

    def __call__(self, item: dict) -> dict:
        from ..modeling import InvalidPoseError
        from ..spotting.spot import spot

        try:
            result = spot(self.model, self.processor, item["key"], self.queries, self.config, progress=False)
        except (InvalidPoseError, ValueError, OSError) as error:
            problem = getattr(error, "problem", None) or str(error)
            return {"key": item["key"], "reason": f"{type(error).__name__}: {problem}".splitlines()[0]}
        paths.write_bytes(item["target"], json.dumps(result.to_dict(), indent=2).encode("utf-8"))
        return {"key": item["key"], "reason": None, "detections": len(result.detections)}


def spot_folder(model, recordings, output, queries, config=None, ray_config: RayConfig | None = None) -> FolderReport:
    """Spot `queries` in every `.pose` under the folder `recordings`; one JSON per recording under `output`."""
    from tqdm.auto import tqdm

    from ..spotting.spot import SpottingConfig, make_prompts

    start = time.perf_counter()
    config = config or SpottingConfig()
    make_prompts(queries, config.spoken_language, config.sign_language)  # bad queries fail before any work
    root, output = Path(recordings), os.fspath(output)
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder")
    report = FolderReport()
    items = []
    for recording in sorted(p for p in root.rglob("*.pose") if p.is_file()):
        target = paths.join(output, recording.relative_to(root).with_suffix(".json").as_posix())
        if paths.exists(target):
            report.existing.append(os.fspath(recording))
        else:
            items.append({"key": os.fspath(recording), "target": target})
    kwargs = {"model": os.fspath(model), "queries": list(queries), "config": asdict(config)}
    if ray_config is None:
        worker = SpotWorker(**kwargs) if items else None
        results = {}
        for item in tqdm(items, unit=" recordings", desc="spotting"):
            results[item["key"]] = worker(item)
    else:
        results = map_items(items, SpotWorker, kwargs, ray_config, "spotting (Ray)", " recordings")
    report.failed = {key: r["reason"] for key, r in results.items() if r["reason"] is not None}
    report.spotted = [item["key"] for item in items if item["key"] not in report.failed]
    report.detections = sum(r.get("detections", 0) for r in results.values())
    errors = paths.join(output, ERRORS_FILE)
    if paths.is_local(output):
        os.makedirs(paths.local_path(output), exist_ok=True)
    if report.failed:
        paths.write_bytes(errors, "".join(f"{k}\t{r}\n" for k, r in sorted(report.failed.items())).encode("utf-8"))
    else:
        paths.remove(errors)
    report.seconds = time.perf_counter() - start
    return report


__all__ = ["FolderReport", "SpotWorker", "spot_folder"]
