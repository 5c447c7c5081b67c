"""Matplotlib set-up shared by every plot the package writes: a headless backend and PNG output."""

from __future__ import annotations

from pathlib import Path


def pyplot():
    """`matplotlib.pyplot` on the non-interactive Agg backend (plots are written to files, never shown)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_png(figure, path: str | Path, description: str | None = None) -> Path:
    """Write `figure` as a PNG (creating the folder; `description` as its text metadata) and free it."""
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, metadata={"Description": description} if description else None)
    pyplot().close(figure)
    return path
