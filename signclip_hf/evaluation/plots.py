"""Pictures: the embedding space (PCA and t-SNE side by side, one row per colouring such as gloss,
sign language and signer, like the paper's latent-space analysis) and an ISLR confusion matrix.

Rendered with matplotlib's Agg backend (no display needed) to PNG files.
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..plotting import pyplot, save_png

DEFAULT_COLOURINGS = {"gloss": "label", "sign language": "sign_language", "signer": "signer"}


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
    plt = pyplot()
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
    return save_png(figure, path)


def plot_dataset_embeddings(
    dataset, path: str | os.PathLike, colourings: Mapping[str, str] = DEFAULT_COLOURINGS, title: str | None = None
) -> Path:
    """`plot_embedding_space` of an embedded dataset, coloured by its columns (default gloss, sign language, signer)."""
    from ..data.rows import column_values
    from ..embedding import embeddings_of

    available = {name: column for name, column in colourings.items() if column in dataset.column_names}
    return plot_embedding_space(
        embeddings_of(dataset), {name: column_values(dataset, c) for name, c in available.items()}, path, title
    )


@dataclass
class ConfusionTable:
    """Counts of (true class, predicted class) pairs and what the matrix leaves out.

    Rows are the classes with at least one evaluated clip; columns are every class the classifier can
    predict (a class absent from the evaluated split stays a column, since clips can be predicted as it).
    """

    true_classes: list[str]
    predicted_classes: list[str]
    counts: np.ndarray  # (len(true_classes), len(predicted_classes))
    absent_classes: list[str]  # predictable classes with no evaluated clip (columns only, no row)
    left_out_labels: list[str]  # evaluated-split labels the classifier has no class for (clips not scored)

    @property
    def caption(self) -> str:
        """What the matrix does not show, for the plot (empty when it shows everything)."""
        notes = []
        if self.absent_classes:
            notes.append(f"classes not in the test split (columns only): {', '.join(self.absent_classes)}")
        if self.left_out_labels:
            notes.append(f"test clips left out, no class to predict: {', '.join(self.left_out_labels)}")
        return "\n".join(notes)


def confusion_table(
    references: Sequence[int], predictions: Sequence[int], class_names: Sequence[str], left_out: Sequence[str] = ()
) -> ConfusionTable:
    """`ConfusionTable` of class ids `references` / `predictions` over `class_names`; `left_out` are the labels
    whose clips were not scored (e.g. `ClassificationResult.skipped_labels`)."""
    references, predictions = np.asarray(references, dtype=np.int64), np.asarray(predictions, dtype=np.int64)
    rows = np.unique(references)  # sorted class ids that occur
    counts = np.zeros((len(class_names), len(class_names)), dtype=np.int64)
    np.add.at(counts, (references, predictions), 1)
    present = set(rows.tolist())
    return ConfusionTable(
        true_classes=[class_names[i] for i in rows],
        predicted_classes=list(class_names),
        counts=counts[rows],
        absent_classes=[name for i, name in enumerate(class_names) if i not in present],
        left_out_labels=sorted(left_out),
    )


def plot_confusion_matrix(
    references: Sequence[int],
    predictions: Sequence[int],
    class_names: Sequence[str],
    path: str | os.PathLike,
    title: str | None = None,
    left_out: Sequence[str] = (),
) -> Path:
    """Row-normalized confusion matrix PNG (rows: true gloss, columns: predicted), with counts in the cells.

    Only classes with evaluated clips get a row; a caption under the title (also the PNG's `Description`)
    names the classes that have none and the `left_out` labels whose clips were not scored.
    """
    plt = pyplot()
    table = confusion_table(references, predictions, class_names, left_out)
    counts = table.counts
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    rows, columns = counts.shape
    size = max(4.0, 0.6 * max(rows, columns) + 2)
    heading = title or "confusion matrix"
    caption = "\n".join(textwrap.fill(note, width=int(8 * (size + 1))) for note in table.caption.splitlines())
    figure, axis = plt.subplots(figsize=(size + 1, size + 0.25 * (caption.count("\n") + bool(caption))))
    image = axis.imshow(rates, cmap="viridis", vmin=0, vmax=1)
    axis.set_xticks(range(columns), labels=table.predicted_classes, rotation=45, ha="right")
    axis.set_yticks(range(rows), labels=table.true_classes)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    if rows * columns <= 900:
        for i in range(rows):
            for j in range(columns):
                axis.text(j, i, str(counts[i, j]), ha="center", va="center",
                          color="black" if rates[i, j] > 0.5 else "white", fontsize="small")
    figure.colorbar(image, ax=axis, label="fraction of the true class")
    figure.suptitle(f"{heading}\n{caption}" if caption else heading, fontsize="medium")
    return save_png(figure, path, description="; ".join([heading, *table.caption.splitlines()]))


__all__ = [
    "ConfusionTable",
    "confusion_table",
    "plot_confusion_matrix",
    "plot_dataset_embeddings",
    "plot_embedding_space",
    "project_2d",
]
