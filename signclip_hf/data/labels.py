"""Classes of a labelled pose dataset: class names, their prompts, and label -> class id mapping.

Class names are the distinct values of the label column, sorted; a class's prompt is
`"<{spoken}> <{sign}> {text}"` of its first row (`prompt_for_row`), so the language tags come
from the data. Shared by training (validation retrieval), evaluation (ISLR protocols) and fine-tuning.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from datasets import Dataset

from .collate import dataset_prompts
from .rows import column_values


def label_strings(dataset: Dataset, label_column: str = "label") -> list[str]:
    """The label of every row as a string, in order (reads only that column)."""
    if label_column not in dataset.column_names:
        raise ValueError(f"the dataset has no {label_column!r} column; columns: {dataset.column_names}")
    return [str(label) for label in column_values(dataset, label_column).tolist()]


def class_prompts(
    dataset: Dataset, label_column: str = "label", text_column: str = "text"
) -> tuple[list[str], list[str]]:
    """Sorted class names and each class's prompt, e.g. (["hello", ...], ["<en> <ase> hello", ...])."""
    return first_prompt_per_class(label_strings(dataset, label_column), dataset_prompts(dataset, text_column))


def first_prompt_per_class(labels: Sequence[str], prompts: Sequence[str]) -> tuple[list[str], list[str]]:
    """Sorted class names and the prompt of each class's first clip (`labels`, `prompts`: one per clip)."""
    first: dict[str, str] = {}
    for label, prompt in zip(labels, prompts):
        first.setdefault(label, prompt)
    names = sorted(first)
    return names, [first[name] for name in names]


def class_ids(labels: Sequence[str], class_names: Sequence[str], where: str = "dataset") -> np.ndarray:
    """Map label strings to ids in `class_names`; labels without a class fail with their names."""
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise ValueError(f"{where} has labels with no class to predict: {unknown}; classes: {list(class_names)}")
    return np.array([index[label] for label in labels], dtype=np.int64)


def known_label_rows(
    labels: Sequence[str], class_names: Sequence[str], unknown_labels: str = "skip"
) -> tuple[np.ndarray, list[str]]:
    """Indices of the labels that are classes, and the sorted labels that are not.

    Labels without a class are left out (`unknown_labels="skip"`) or fail (`"error"`).
    """
    if unknown_labels not in ("skip", "error"):
        raise ValueError(f"unknown_labels must be 'skip' or 'error', got {unknown_labels!r}")
    known = set(class_names)
    unknown = sorted(set(labels) - known)
    if not unknown or unknown_labels == "error":
        class_ids(labels, class_names, "the query set")
        return np.arange(len(labels)), []
    keep = np.array([i for i, label in enumerate(labels) if label in known], dtype=np.int64)
    if not len(keep):
        raise ValueError(f"no query clip has a label among the classes {list(class_names)}")
    return keep, unknown


def known_labels_only(
    dataset: Dataset, class_names: Sequence[str], label_column: str = "label", unknown_labels: str = "skip"
) -> tuple[Dataset, list[str]]:
    """The clips whose label is a class (see `known_label_rows`), and the labels left out."""
    keep, unknown = known_label_rows(label_strings(dataset, label_column), class_names, unknown_labels)
    return (dataset.select(keep) if unknown else dataset), unknown


__all__ = [
    "class_ids",
    "class_prompts",
    "first_prompt_per_class",
    "known_label_rows",
    "known_labels_only",
    "label_strings",
]
