"""The paper's evaluation protocols (SignCLIP, Jiang et al. 2024, §4) as pure functions of embeddings and labels.

Retrieval, zero-shot, few-shot and linear-probe ISLR take pose / text embedding matrices and each
clip's label or prompt, never a model: `run.run_evaluation` embeds a dataset once and runs every
protocol on the same embeddings. Scores are raw dot products (for a cosine model the embeddings are
unit vectors and the temperature does not change any ranking).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..data.labels import class_ids, known_label_rows
from ..metric_functions import classification_metrics, retrieval_metrics


@dataclass
class ClassificationResult:
    """ISLR scores of one run: `scores` (N, C) over `class_names`, true class ids `references` (N,).

    `skipped_labels`: query labels with no support / training clips, whose clips were left out.
    """

    task: str
    metrics: dict[str, float]
    class_names: list[str]
    references: np.ndarray
    scores: np.ndarray
    skipped_labels: list[str] = field(default_factory=list)

    @property
    def predictions(self) -> np.ndarray:
        return self.scores.argmax(axis=1)

    def to_dict(self) -> dict:
        return {"task": self.task, "metrics": self.metrics, "class_names": self.class_names,
                "skipped_labels": self.skipped_labels}


@dataclass
class FewShotResult:
    """Few-shot metrics per k (`"5-shot"` -> mean over seeds, plus `top1_accuracy_std`) and every run."""

    metrics: dict[str, dict[str, float]]
    shots: list[int]
    seeds: list[int]
    runs: dict[str, list[ClassificationResult]] = field(default_factory=dict, repr=False)
    skipped_labels: list[str] = field(default_factory=list)
    task: str = "few-shot"

    def to_dict(self) -> dict:
        return {"task": self.task, "metrics": self.metrics, "shots": self.shots, "seeds": self.seeds,
                "skipped_labels": self.skipped_labels}


@dataclass
class RetrievalResult:
    """Text->pose and pose->text retrieval metrics over the dataset's distinct prompts."""

    metrics: dict[str, float]
    prompts: list[str]
    task: str = "retrieval"

    def to_dict(self) -> dict:
        return {"task": self.task, "metrics": self.metrics, "num_prompts": len(self.prompts)}


def score_classes(
    task: str, scores: np.ndarray, references: np.ndarray, class_names: list[str], skipped: Sequence[str] = ()
) -> ClassificationResult:
    """A `ClassificationResult` of (N, C) scores (kept as float32, the precision the metrics see)."""
    scores = np.asarray(scores, dtype=np.float32)
    metrics = classification_metrics(scores, references)
    return ClassificationResult(task, metrics, list(class_names), references, scores, list(skipped))


def retrieval_on_embeddings(
    pose_embeds: np.ndarray,
    clip_prompts: Sequence[str],
    prompts: Sequence[str],
    text_embeds: np.ndarray,
    ks: Sequence[int] = (1, 5, 10),
) -> RetrievalResult:
    """Text<->pose retrieval: clip i is paired with its own prompt `clip_prompts[i]`, one of the distinct
    `prompts` whose text embeddings are `text_embeds`."""
    references = class_ids(clip_prompts, prompts)
    metrics = retrieval_metrics(pose_embeds @ text_embeds.T, references, ks=tuple(ks))
    return RetrievalResult(metrics, list(prompts))


def zero_shot_on_embeddings(
    pose_embeds: np.ndarray, labels: Sequence[str], class_names: Sequence[str], class_text_embeds: np.ndarray
) -> ClassificationResult:
    """Zero-shot ISLR: argmax over the classes' prompt embeddings (`"<en> <ase> {gloss}"`) of pose · text."""
    references = class_ids(labels, class_names)
    return score_classes("zero-shot", pose_embeds @ class_text_embeds.T, references, list(class_names))


def few_shot_on_embeddings(
    support_embeds: np.ndarray,
    support_labels: Sequence[str],
    query_embeds: np.ndarray,
    query_labels: Sequence[str],
    shots: Sequence[int] = (1, 5, 10),
    seeds: Sequence[int] = (0, 1, 2),
    unknown_labels: str = "skip",
) -> FewShotResult:
    """k-shot ISLR: class score = mean dot product with k support clips of the class (drawn per seed).

    A class with fewer than k support clips uses all of them. Metrics are averaged over seeds. Query
    clips whose gloss has no support clip are left out (`unknown_labels="skip"`, listed in the result)
    or fail ("error").
    """
    support_labels = np.asarray(support_labels, dtype=object)
    class_names = sorted(set(support_labels))
    keep, skipped = known_label_rows(list(query_labels), class_names, unknown_labels)
    query_embeds = query_embeds[keep]
    references = class_ids([query_labels[i] for i in keep], class_names, "the query set")
    members = [np.flatnonzero(support_labels == name) for name in class_names]
    metrics, runs = {}, {}
    for k in shots:
        name = f"{k}-shot"
        runs[name] = []
        for seed in seeds:
            rng = np.random.default_rng(seed)
            prototypes = np.stack(
                [support_embeds[rng.choice(m, size=min(k, len(m)), replace=False)].mean(axis=0) for m in members]
            )
            runs[name].append(score_classes(name, query_embeds @ prototypes.T, references, class_names, skipped))
        values = {key: [run.metrics[key] for run in runs[name]] for key in runs[name][0].metrics}
        metrics[name] = {key: float(np.mean(v)) for key, v in values.items() if key != "num_examples"}
        metrics[name]["num_examples"] = len(references)
        metrics[name]["top1_accuracy_std"] = float(np.std(values["top1_accuracy"]))
    return FewShotResult(metrics, [int(k) for k in shots], [int(s) for s in seeds], runs, skipped)


def linear_probe_on_embeddings(
    train_embeds: np.ndarray,
    train_labels: Sequence[str],
    test_embeds: np.ndarray,
    test_labels: Sequence[str],
    regularization: float = 1.0,
    max_iter: int = 2000,
    unknown_labels: str = "skip",
) -> ClassificationResult:
    """Logistic regression (scikit-learn, standardized features) on frozen pose embeddings.

    Test clips whose gloss is not in the training set are left out (`"skip"`) or fail (`"error"`).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    class_names = sorted(set(train_labels))
    if len(class_names) < 2:
        raise ValueError(f"a linear probe needs at least 2 classes in the training set, got {class_names}")
    keep, skipped = known_label_rows(list(test_labels), class_names, unknown_labels)
    references = class_ids([test_labels[i] for i in keep], class_names, "the test set")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=regularization, max_iter=max_iter))
    probe.fit(train_embeds, class_ids(train_labels, class_names))
    scores = probe.predict_log_proba(test_embeds[keep])
    return score_classes("linear-probe", scores, references, class_names, skipped)


__all__ = [
    "ClassificationResult",
    "FewShotResult",
    "RetrievalResult",
    "few_shot_on_embeddings",
    "linear_probe_on_embeddings",
    "retrieval_on_embeddings",
    "score_classes",
    "zero_shot_on_embeddings",
]
