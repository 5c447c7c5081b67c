"""SignCLIP retrieval metrics (SPEC §4) as an `evaluate` module, loadable offline by path.

Inputs: a score matrix with one row per pose clip and one column per text prompt, and for each pose
the column of its own text. Prompts are deduplicated by their text (`texts=`; identical prompts give
identical embeddings, and a prompt's score is the max over its copies), then:

- text -> pose: one query per distinct prompt that some pose has; relevant poses are all the poses
  with that prompt. P@k = relevant poses in the top k / k. MedianR / MeanR = rank of the first
  relevant pose.
- pose -> text: one query per pose over the distinct prompts; R@k = its prompt is in the top k.
  MedianR / MeanR = rank of its prompt.

Ties are resolved pessimistically: a relevant item tied with irrelevant ones is ranked after all of
them (so a model that scores everything equally gets the worst ranks, never the best). Ranks are
1-based. Against the released evaluation (fairseq MMPT `RWTHFS{T2V,V2T}Metric`): the same
definitions; it broke ties by column order (Python's stable sort) and, for pose -> text, dropped
duplicates only where they were adjacent after sorting, which equals our deduplication whenever
identical prompts have identical scores (always, for one text tower). Rows are ranked in chunks, so
memory beyond the input is bounded by `chunk_size` rows.
"""

from __future__ import annotations

import statistics

import datasets
import evaluate
import numpy as np
from signclip_hf.cards import CITATION as _CITATION  # one home for the paper's BibTeX

_KWARGS_DESCRIPTION = """
Args:
    predictions: (num_poses, num_texts) scores; row i scores pose i against every text column.
    references: (num_poses,) the text column that belongs to each pose.
    texts: optional list of num_texts prompt strings; columns with equal strings are one prompt.
        Default: every column is a distinct prompt.
    ks: cut-offs for P@k / R@k (default (1, 5, 10)).
    chunk_size: query rows ranked at a time (bounds memory).
Returns:
    t2v_P@k, t2v_MedianR, t2v_MeanR, v2t_R@k, v2t_MedianR, v2t_MeanR, num_text_queries, num_pose_queries.
Examples:
    >>> metric = evaluate.load("signclip_hf/metrics/retrieval")
    >>> metric.compute(predictions=[[2.0, 1.0], [0.0, 3.0]], references=[0, 1], ks=(1,))["v2t_R@1"]
    1.0
"""


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
    if len(texts) != scores.shape[1]:
        raise ValueError(f"texts has {len(texts)} entries but the score matrix has {scores.shape[1]} columns")
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
    scores = np.asarray(scores, dtype=np.float64)
    references = np.asarray(references, dtype=np.int64)
    if scores.ndim != 2 or scores.shape[0] != len(references):
        raise ValueError(f"expected a (num_poses, num_texts) score matrix and num_poses references, got "
                         f"{scores.shape} and {references.shape}")
    if len(references) and (references.min() < 0 or references.max() >= scores.shape[1]):
        raise ValueError(f"references must be text columns in [0, {scores.shape[1]})")
    merged, prompt_of_column = deduplicate_columns(scores, texts)
    pose_prompt = prompt_of_column[references]  # (P,) distinct prompt id of each pose
    queries = np.unique(pose_prompt)  # prompts that have at least one pose
    ks = tuple(int(k) for k in ks)

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


@evaluate.utils.file_utils.add_start_docstrings(__doc__, _KWARGS_DESCRIPTION)
class Retrieval(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=__doc__,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("float32")), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, texts=None, ks=(1, 5, 10), chunk_size=1024):
        return retrieval_metrics(np.asarray(predictions), np.asarray(references), texts, tuple(ks), chunk_size)
