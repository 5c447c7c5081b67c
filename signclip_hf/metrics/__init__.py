"""Metrics shipped with the package as `evaluate` modules, loaded by path (the Hub is not needed).

`load_metric("retrieval")` / `load_metric("classification")` / `load_metric("signclip_score", model=...)`
return `evaluate.EvaluationModule`s; each module's folder holds one script named like the folder, as
`evaluate.load(path)` expects. The modules wrap the plain functions of `signclip_hf.metric_functions`,
which the package itself calls directly; `signclip_score` wraps `signclip_hf.evaluation.score`. This is the
top layer: nothing else in the package imports it (training and evaluation import `metric_functions`).
"""

from __future__ import annotations

from pathlib import Path

METRICS_DIR = Path(__file__).resolve().parent
METRICS = ("retrieval", "classification", "signclip_score")


def metric_path(name: str) -> Path:
    """Folder of a shipped metric module."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; shipped metrics: {', '.join(METRICS)}")
    return METRICS_DIR / name


def load_metric(name: str, **kwargs):
    """`evaluate.load` of a shipped metric by its local path (works offline)."""
    import evaluate

    return evaluate.load(str(metric_path(name)), **kwargs)


__all__ = ["METRICS", "METRICS_DIR", "load_metric", "metric_path"]
