"""Pictures: the embedding space (PCA and t-SNE side by side, one row per colouring such as gloss,
sign language and signer, like the paper's latent-space analysis) and an ISLR confusion matrix.

Rendered with matplotlib's Agg backend (no display needed) to PNG files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

DEFAULT_COLOURINGS = {"gloss": "label", "sign language": "sign_language", "signer": "signer"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def project_2d(embeddings: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """{"PCA": (N, 2), "t-SNE": (N, 2)} projections (t-SNE perplexity adapted to small N)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    embeddings = np.asarray(embeddings, dtype=np.float64)
    if len(embeddings) < 3:
        raise ValueError(f"need at least 3 embeddings to project, got {len(embeddings)}")
    perplexity = float(min(30.0, (len(embeddings) - 1) / 3))
    return {
        "PCA": PCA(n_components=2, random_state=seed).fit_transform(embeddings),
        "t-SNE": TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(embeddings),
    }


def plot_embedding_space(
    embeddings: np.ndarray,
    colourings: Mapping[str, Sequence[str]],
    path: str | os.PathLike,
    title: str | None = None,
    seed: int = 0,
) -> Path:
    """PNG with one row per colouring (name -> one label per embedding) and PCA / t-SNE columns."""
    plt = _pyplot()
    projections = project_2d(embeddings, seed)
    rows = [(name, np.asarray([str(v) for v in values], dtype=object)) for name, values in colourings.items()]
    for name, values in rows:
        if len(values) != len(embeddings):
            raise ValueError(f"colouring {name!r} has {len(values)} labels for {len(embeddings)} embeddings")
    figure, axes = plt.subplots(len(rows), 2, figsize=(12, 5 * len(rows)), squeeze=False)
    for row, (name, values) in enumerate(rows):
        groups = sorted(set(values))
        colours = plt.get_cmap("tab20" if len(groups) > 10 else "tab10")(np.linspace(0, 1, max(len(groups), 2)))
        for column, (method, points) in enumerate(projections.items()):
            axis = axes[row, column]
            for group, colour in zip(groups, colours):
                chosen = values == group
                axis.scatter(points[chosen, 0], points[chosen, 1], s=18, color=colour, label=group, alpha=0.8)
            axis.set_title(f"{method}, coloured by {name}")
            axis.set_xticks([])
            axis.set_yticks([])
        axes[row, 1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small", title=name)
    if title:
        figure.suptitle(title)
    return _save(figure, path)


def plot_dataset_embeddings(
    dataset, path: str | os.PathLike, colourings: Mapping[str, str] = DEFAULT_COLOURINGS, title: str | None = None
) -> Path:
    """`plot_embedding_space` of an embedded dataset, coloured by its columns (default gloss, sign language, signer)."""
    from .embed import embeddings_of
    from .protocols import column_values

    available = {name: column for name, column in colourings.items() if column in dataset.column_names}
    return plot_embedding_space(
        embeddings_of(dataset), {name: column_values(dataset, c) for name, c in available.items()}, path, title
    )


def plot_confusion_matrix(
    references: Sequence[int],
    predictions: Sequence[int],
    class_names: Sequence[str],
    path: str | os.PathLike,
    title: str | None = None,
) -> Path:
    """Row-normalized confusion matrix PNG (rows: true gloss, columns: predicted), with counts in the cells."""
    plt = _pyplot()
    num_classes = len(class_names)
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(references), np.asarray(predictions)), 1)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.6 * num_classes + 2)
    figure, axis = plt.subplots(figsize=(size + 1, size))
    image = axis.imshow(rates, cmap="viridis", vmin=0, vmax=1)
    axis.set_xticks(range(num_classes), labels=class_names, rotation=45, ha="right")
    axis.set_yticks(range(num_classes), labels=class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    if num_classes <= 30:
        for i in range(num_classes):
            for j in range(num_classes):
                axis.text(j, i, str(counts[i, j]), ha="center", va="center",
                          color="black" if rates[i, j] > 0.5 else "white", fontsize="small")
    figure.colorbar(image, ax=axis, label="fraction of the true class")
    axis.set_title(title or "confusion matrix")
    return _save(figure, path)


__all__ = ["plot_confusion_matrix", "plot_dataset_embeddings", "plot_embedding_space", "project_2d"]


def _save(figure, path: str | Path) -> Path:
    """Write `figure` as a PNG (creating the folder) and free it."""
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    _pyplot().close(figure)
    return path
