"""Corpus jobs past one machine: `video-to-pose`, `build-dataset`, `embed` and `spot` on a Ray cluster.

Each job is a list of small keyed work items run through a Ray Data actor pool (`runtime.map_items`): one
MediaPipe stack or one loaded model per actor, CPU/GPU resources declared, actors restarted and items
retried when a worker or a node dies, and every output written atomically at a name given by its key, so
the results are those of the single-machine command, whatever failed on the way. Importing this package
does not import Ray (the `ray` extra: `pip install "signclip-hf[ray]"`); the job modules import it when run.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "RayConfig": "runtime",
    "connect": "runtime",
    "map_items": "runtime",
    "convert_folder_ray": "video",
    "build_dataset_ray": "build",
    "EmbedConfig": "embed",
    "embed": "embed",
    "read_embeddings": "embed",
    "embedding_matrix": "embed",
    "spot_folder": "spot",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
