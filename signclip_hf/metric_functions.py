"""The metric math of the shipped metrics, as plain numpy functions (one home).

`signclip_hf` (training, evaluation) calls these directly; the `evaluate` modules under `metrics/classification/`
and `metrics/retrieval/` wrap them for users (their docstrings define the metrics: ties pessimistic,
1-based ranks, prompts deduplicated by text). This module imports only numpy: the `metrics` package (the
`evaluate` wrappers, which import the evaluation layer) sits above everything, this one below.
"""

from __future__ import annotations

import statistics

import numpy as np


def check_scores(scores, name: str = "scores") -> np.ndarray:
    """A 2-D float64 score matrix of finite numbers (NaN / inf would rank silently wrong)."""
    try:
        scores = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a matrix of numbers: {error}") from None
    if scores.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {scores.shape}")
    if not np.isfinite(scores).all():
        row, column = np.argwhere(~np.isfinite(scores))[0]
        raise ValueError(
            f"{name} hold {int((~np.isfinite(scores)).sum())} NaN or infinite value(s), e.g. "
            f"{scores[row, column]} at row {row}, column {column}: every score must be a finite number"
        )
    return scores


def check_ids(references, name: str = "references") -> np.ndarray:
    """A 1-D int64 array of whole numbers (2.5 is not a class id)."""
    values = np.asarray(references)
    if values.dtype == object or values.dtype.kind not in "iuf" or values.ndim != 1:
        raise ValueError(f"{name} must be a list of whole numbers, got {values.dtype} values of shape {values.shape}")
    if values.dtype.kind == "f" and not (np.isfinite(values).all() and (values == np.round(values)).all()):
        raise ValueError(f"{name} must be whole numbers, got {values[~(values == np.round(values))][:3].tolist()}")
    return values.astype(np.int64)


def check_ks(ks) -> tuple[int, ...]:
    """Cut-offs k: whole numbers >= 1 (one int, or a sequence of them)."""
    ks = (ks,) if isinstance(ks, (int, np.integer)) else ks
    try:
        ks = tuple(ks)
    except TypeError:
        raise ValueError(f"ks must be whole numbers >= 1, got {ks!r}") from None
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"ks must be whole numbers >= 1, got {k!r} in {ks!r}")
    return tuple(int(k) for k in ks)


def true_class_ranks(scores: np.ndarray, references: np.ndarray) -> np.ndarray:
    """1-based rank of each true class, ties pessimistic: 1 + other classes scoring >= the true class."""
    true_scores = np.take_along_axis(scores, references[:, None], axis=1)
    return (scores >= true_scores).sum(axis=1)  # counts the true class itself once


def classification_metrics(scores: np.ndarray, references: np.ndarray, ks: tuple[int, ...] = (1, 5)) -> dict:
    """Top-k accuracies, macro accuracy and the example count of (N, C) class scores against true class ids."""
    scores = check_scores(scores, "predictions")
    references = check_ids(references)
    ks = check_ks(ks)
    if scores.shape[0] != len(references):
        raise ValueError(f"expected (num_examples, num_classes) scores and num_examples references, got "
                         f"{scores.shape} and {references.shape}")
    if len(references) == 0:
        raise ValueError("no examples to score")
    if references.min() < 0 or references.max() >= scores.shape[1]:
        raise ValueError(f"references must be class ids in [0, {scores.shape[1]})")
    ranks = true_class_ranks(scores, references)
    results = {f"top{k}_accuracy": float((ranks <= min(k, scores.shape[1])).mean()) for k in ks}
    correct = ranks == 1
    _, inverse = np.unique(references, return_inverse=True)
    recall = np.bincount(inverse, weights=correct) / np.bincount(inverse)
    results["macro_accuracy"] = float(recall.mean())
    results["num_examples"] = int(len(references))
    return results


def relevance_in_rank_order(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """(Q, N) scores + (Q, N) relevance -> (Q, N) relevance sorted by descending score, ties pessimistic."""
    order = np.lexsort((relevant, -scores), axis=-1)  # primary: -score; ties: irrelevant (False) first
    return np.take_along_axis(relevant, order, axis=-1)


def rank_statistics(
    scores: np.ndarray, relevant: np.ndarray, ks: tuple[int, ...], chunk_size: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Per query: hits in the top k for each k ((Q, len(ks)) ints) and the rank of the first relevant item."""
    hits = np.zeros((len(scores), len(ks)), dtype=np.int64)
    first = np.zeros(len(scores), dtype=np.int64)
    for start in range(0, len(scores), chunk_size):
        ranked = relevance_in_rank_order(scores[start : start + chunk_size], relevant[start : start + chunk_size])
        cumulative = np.cumsum(ranked, axis=-1)
        hits[start : start + chunk_size] = cumulative[:, [min(k, ranked.shape[1]) - 1 for k in ks]]
        first[start : start + chunk_size] = ranked.argmax(axis=-1) + 1
    return hits, first


def deduplicate_columns(scores: np.ndarray, texts: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
    """(P, T) scores -> (P, U) scores over distinct prompts (max over copies) and each column's prompt id."""
    if texts is None:
        return scores, np.arange(scores.shape[1])
    if isinstance(texts, str):
        raise ValueError("texts must be a list of prompt strings, one per column, not one string")
    texts = list(texts)
    if len(texts) != scores.shape[1]:
        raise ValueError(f"texts has {len(texts)} entries but the score matrix has {scores.shape[1]} columns")
    wrong = next((i for i, text in enumerate(texts) if not isinstance(text, str)), None)
    if wrong is not None:
        raise ValueError(f"texts must be strings: entry {wrong} is {type(texts[wrong]).__name__} {texts[wrong]!r:.80}")
    _, first_index, prompt_of_column = np.unique(
        np.asarray(texts, dtype=object), return_index=True, return_inverse=True
    )
    order = np.argsort(prompt_of_column, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(prompt_of_column[order]) != 0])
    merged = np.maximum.reduceat(scores[:, order], starts, axis=1)
    # keep the distinct prompts in order of first appearance
    appearance = np.argsort(first_index, kind="stable")
    remap = np.empty_like(appearance)
    remap[appearance] = np.arange(len(appearance))
    return merged[:, appearance], remap[prompt_of_column]


def retrieval_metrics(
    scores: np.ndarray,
    references: np.ndarray,
    texts: list[str] | None = None,
    ks: tuple[int, ...] = (1, 5, 10),
    chunk_size: int = 1024,
) -> dict[str, float]:
    """Text->pose P@k, MedianR, MeanR and pose->text R@k, MedianR, MeanR over distinct prompts (see module doc)."""
    scores = check_scores(scores, "predictions")
    references = check_ids(references)
    ks = check_ks(ks)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a whole number >= 1, got {chunk_size!r}")
    if scores.shape[0] != len(references):
        raise ValueError(f"expected a (num_poses, num_texts) score matrix and num_poses references, got "
                         f"{scores.shape} and {references.shape}")
    if len(references) == 0:
        raise ValueError("no poses to score")
    if references.min() < 0 or references.max() >= scores.shape[1]:
        raise ValueError(f"references must be text columns in [0, {scores.shape[1]})")
    merged, prompt_of_column = deduplicate_columns(scores, texts)
    pose_prompt = prompt_of_column[references]  # (P,) distinct prompt id of each pose
    queries = np.unique(pose_prompt)  # prompts that have at least one pose

    t2v_relevant = queries[:, None] == pose_prompt[None, :]
    t2v_hits, t2v_first = rank_statistics(merged[:, queries].T, t2v_relevant, ks, chunk_size)
    v2t_relevant = np.arange(merged.shape[1])[None, :] == pose_prompt[:, None]
    v2t_hits, v2t_first = rank_statistics(merged, v2t_relevant, ks, chunk_size)

    results: dict[str, float] = {}
    for column, k in enumerate(ks):
        results[f"t2v_P@{k}"] = float(t2v_hits[:, column].mean() / k)
    results["t2v_MedianR"] = float(statistics.median(t2v_first.tolist()))
    results["t2v_MeanR"] = float(t2v_first.mean())
    for column, k in enumerate(ks):
        results[f"v2t_R@{k}"] = float((v2t_hits[:, column] > 0).mean())
    results["v2t_MedianR"] = float(statistics.median(v2t_first.tolist()))
    results["v2t_MeanR"] = float(v2t_first.mean())
    results["num_text_queries"] = int(len(queries))
    results["num_pose_queries"] = int(len(references))
    return results


__all__ = ["check_ks", "check_scores", "classification_metrics", "retrieval_metrics"]
