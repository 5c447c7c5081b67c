"""Dataset splits: by an explicit column, or signer-independent (whole signers held out, seeded).

ISLR results are only meaningful when the test signers were never seen in training, so the
signer-independent split assigns signers, not clips, to splits.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
from datasets import Dataset, DatasetDict

from .rows import column_values


def split_by_column(dataset: Dataset, column: str = "split") -> DatasetDict:
    """One split per distinct value of `column` (e.g. train / validation / test), in first-seen order."""
    if column not in dataset.column_names:
        raise ValueError(f"no {column!r} column to split by; columns: {dataset.column_names}")
    values = column_values(dataset, column)
    names, first = np.unique(values, return_index=True)
    return DatasetDict(
        {str(name): dataset.select(np.flatnonzero(values == name)) for name in names[np.argsort(first)]}
    )


def assign_signers(
    signers: Sequence[str], test_size: float = 0.2, validation_size: float = 0.0, seed: int = 0
) -> np.ndarray:
    """The split ("train", "test" or "validation") of each row, holding out whole signers.

    Signers are shuffled with `seed` and taken one by one into `test` (then `validation`) until the
    split holds at least its fraction of the rows; every split gets at least one signer, `train` keeps
    the rest. No signer is in two splits.
    """
    signers = np.asarray(signers, dtype=object)
    names, counts = np.unique(signers, return_counts=True)
    wanted = [("test", test_size)] + ([("validation", validation_size)] if validation_size > 0 else [])
    if len(names) < len(wanted) + 1:
        raise ValueError(
            f"a signer-independent split into train + {len(wanted)} held-out split(s) needs at least "
            f"{len(wanted) + 1} signers; the dataset has {len(names)}: {list(names)}"
        )
    order = np.random.default_rng(seed).permutation(len(names))
    assignment: dict[str, str] = {}
    taken = 0
    for position, (split, fraction) in enumerate(wanted):
        keep = len(wanted) - position  # signers left for the later held-out splits and for train
        total = 0
        while taken < len(order) - keep and (total == 0 or total < fraction * len(signers)):
            assignment[names[order[taken]]] = split
            total += counts[order[taken]]
            taken += 1
    return np.array([assignment.get(s, "train") for s in signers.tolist()], dtype=object)


def signer_independent_split(
    dataset: Dataset,
    test_size: float = 0.2,
    validation_size: float = 0.0,
    seed: int = 0,
    signer_column: str = "signer",
) -> DatasetDict:
    """Hold out whole signers: `train`, `test` (+ `validation`), each with about the given fraction of clips.

    See `assign_signers`; the same seed gives the same split as `build_dataset(signer_split=...)`.
    """
    if signer_column not in dataset.column_names:
        raise ValueError(f"no {signer_column!r} column; a signer-independent split needs one")
    split_of = assign_signers(column_values(dataset, signer_column), test_size, validation_size, seed)
    names = ["train", "test"] + (["validation"] if validation_size > 0 else [])
    return DatasetDict({name: dataset.select(np.flatnonzero(split_of == name)) for name in names})


def load_splits(
    dataset: str | os.PathLike | Dataset | DatasetDict,
    train_split: str | None,
    eval_split: str | None,
    allow_unsplit: bool = False,
) -> tuple[Dataset | None, Dataset | None]:
    """(train, eval) splits of a saved dataset directory or a loaded dataset (None for a split not asked for).

    A missing split fails naming the splits there are. A dataset without splits fails too, unless
    `allow_unsplit` (then it serves as every split).
    """
    where = "the dataset"
    if isinstance(dataset, (str, os.PathLike)):
        from ..loading import load_dataset

        where, dataset = str(dataset), load_dataset(dataset)
    if isinstance(dataset, Dataset):
        if not allow_unsplit:
            raise ValueError(f"{where}: expected a dataset with splits (build it with a signer split or a split column)")
        return (dataset if train_split else None), (dataset if eval_split else None)
    for name in (train_split, eval_split):
        if name is not None and name not in dataset:
            raise ValueError(f"{where}: no split {name!r}; splits: {list(dataset)}")
    return (dataset[train_split] if train_split else None), (dataset[eval_split] if eval_split else None)
