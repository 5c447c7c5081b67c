"""The paper's evaluation protocols (SPEC §4) on embedded datasets: retrieval, zero-shot, few-shot, linear probe.

Every protocol works on `pose_embedding` columns (see `embed.embed_dataset`); a dataset without one is
embedded first with the given model (an existing column is trusted to come from that model). Class
names are the distinct values of the label column, sorted; a class's prompt is
`"<{spoken}> <{sign}> {text}"` built from its first row (`prompt_for_row`), so the language tags come
from the data. Scores are raw dot products (for a cosine model the embeddings are unit vectors and the
temperature does not change any ranking).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

import numpy as np
from datasets import Dataset

from ..data.collate import dataset_prompts, prompt_for_row
from ..metrics import load_metric
from .embed import EMBEDDING_COLUMN, embed_dataset, embed_texts, embeddings_of


@lru_cache(maxsize=None)
def _metric(name: str):
    return load_metric(name)


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


def ensure_embedded(model, processor, dataset: Dataset, batch_size: int = 32) -> Dataset:
    """The dataset itself if it has `pose_embedding`, else the dataset embedded with `model`."""
    if EMBEDDING_COLUMN in dataset.column_names:
        return dataset
    if model is None or processor is None:
        raise ValueError(f"the dataset has no {EMBEDDING_COLUMN!r} column; give a model and processor to embed it")
    return embed_dataset(model, processor, dataset, batch_size=batch_size)


def column_values(dataset: Dataset, column: str) -> list[str]:
    """A string column as a list, without decoding the pose columns."""
    if column not in dataset.column_names:
        raise ValueError(f"the dataset has no {column!r} column; columns: {dataset.column_names}")
    return [str(value) for value in dataset.select_columns([column]).with_format("arrow")[column].to_pylist()]


def class_prompts(
    dataset: Dataset, label_column: str = "label", text_column: str = "text"
) -> tuple[list[str], list[str]]:
    """Sorted class names and each class's prompt, e.g. (["hello", ...], ["<en> <ase> hello", ...])."""
    columns = [c for c in (label_column, text_column, "sign_language", "spoken_language") if c in dataset.column_names]
    rows = dataset.select_columns(columns).to_list()
    first_row: dict[str, dict] = {}
    for row in rows:
        first_row.setdefault(str(row[label_column]), row)
    names = sorted(first_row)
    return names, [prompt_for_row(first_row[name], text_column) for name in names]


def class_ids(labels: Sequence[str], class_names: Sequence[str], where: str = "dataset") -> np.ndarray:
    """Map label strings to ids in `class_names`; labels without a class fail with their names."""
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise ValueError(f"{where} has labels with no class to predict: {unknown}; classes: {list(class_names)}")
    return np.array([index[label] for label in labels], dtype=np.int64)


def known_labels_only(
    dataset: Dataset, class_names: Sequence[str], label_column: str, unknown_labels: str
) -> tuple[Dataset, list[str]]:
    """Drop clips whose label is not a class (`unknown_labels="skip"`) or fail (`"error"`); also the dropped labels."""
    if unknown_labels not in ("skip", "error"):
        raise ValueError(f"unknown_labels must be 'skip' or 'error', got {unknown_labels!r}")
    labels, known = column_values(dataset, label_column), set(class_names)
    unknown = sorted(set(labels) - known)
    if not unknown or unknown_labels == "error":
        class_ids(labels, class_names, "the query set")
        return dataset, []
    keep = [i for i, label in enumerate(labels) if label in known]
    if not keep:
        raise ValueError(f"no query clip has a label among the classes {list(class_names)}")
    return dataset.select(keep), unknown


def score_classes(
    task: str, scores: np.ndarray, references: np.ndarray, class_names: list[str], skipped: Sequence[str] = ()
) -> ClassificationResult:
    metrics = _metric("classification").compute(predictions=scores, references=references)
    return ClassificationResult(
        task, metrics, list(class_names), references, np.asarray(scores, dtype=np.float32), list(skipped)
    )


def zero_shot(
    model,
    processor,
    dataset: Dataset,
    label_column: str = "label",
    text_column: str = "text",
    batch_size: int = 32,
) -> ClassificationResult:
    """Zero-shot ISLR: argmax over the classes' prompts (`"<en> <ase> {gloss}"`) of pose · text."""
    dataset = ensure_embedded(model, processor, dataset, batch_size)
    class_names, prompts = class_prompts(dataset, label_column, text_column)
    text_embeds = embed_texts(model, processor, prompts)
    scores = embeddings_of(dataset) @ text_embeds.T
    references = class_ids(column_values(dataset, label_column), class_names)
    return score_classes("zero-shot", scores, references, class_names)


def few_shot(
    model,
    processor,
    support: Dataset,
    query: Dataset,
    shots: Sequence[int] = (1, 5, 10),
    seeds: Sequence[int] = (0, 1, 2),
    label_column: str = "label",
    batch_size: int = 32,
    unknown_labels: str = "skip",
) -> FewShotResult:
    """k-shot ISLR: class score = mean dot product with k support clips of the class (drawn per seed).

    Support clips come from `support` (e.g. the training signers), queries from `query`. A class with
    fewer than k support clips uses all of them. Metrics are averaged over seeds. Query clips whose
    gloss has no support clip are left out (`unknown_labels="skip"`, listed in the result) or fail ("error").
    """
    support = ensure_embedded(model, processor, support, batch_size)
    support_labels = np.asarray(column_values(support, label_column), dtype=object)
    class_names = sorted(set(support_labels))
    query, skipped = known_labels_only(query, class_names, label_column, unknown_labels)
    query = ensure_embedded(model, processor, query, batch_size)
    support_embeds, query_embeds = embeddings_of(support), embeddings_of(query)
    references = class_ids(column_values(query, label_column), class_names, "the query set")
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


def linear_probe(
    model,
    processor,
    train: Dataset,
    test: Dataset,
    label_column: str = "label",
    regularization: float = 1.0,
    max_iter: int = 2000,
    batch_size: int = 32,
    unknown_labels: str = "skip",
) -> ClassificationResult:
    """Logistic regression (scikit-learn, standardized features) on frozen pose embeddings.

    Test clips whose gloss is not in the training set are left out (`"skip"`) or fail (`"error"`).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train = ensure_embedded(model, processor, train, batch_size)
    train_labels = column_values(train, label_column)
    class_names = sorted(set(train_labels))
    if len(class_names) < 2:
        raise ValueError(f"a linear probe needs at least 2 classes in the training set, got {class_names}")
    test, skipped = known_labels_only(test, class_names, label_column, unknown_labels)
    test = ensure_embedded(model, processor, test, batch_size)
    references = class_ids(column_values(test, label_column), class_names, "the test set")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=regularization, max_iter=max_iter))
    probe.fit(embeddings_of(train), class_ids(train_labels, class_names))
    scores = probe.predict_log_proba(embeddings_of(test))
    return score_classes("linear-probe", scores, references, class_names, skipped)


def retrieval(
    model,
    processor,
    dataset: Dataset,
    text_column: str = "text",
    ks: Sequence[int] = (1, 5, 10),
    batch_size: int = 32,
) -> RetrievalResult:
    """Text<->pose retrieval over the dataset: each clip is paired with its own prompt (SPEC §4 metrics)."""
    dataset = ensure_embedded(model, processor, dataset, batch_size)
    row_prompts = dataset_prompts(dataset, text_column)
    prompts = list(dict.fromkeys(row_prompts))
    references = class_ids(row_prompts, prompts)
    scores = embeddings_of(dataset) @ embed_texts(model, processor, prompts).T
    metrics = _metric("retrieval").compute(predictions=scores, references=references, ks=tuple(ks))
    return RetrievalResult(metrics, prompts)


__all__ = [
    "ClassificationResult",
    "FewShotResult",
    "RetrievalResult",
    "class_prompts",
    "ensure_embedded",
    "few_shot",
    "linear_probe",
    "retrieval",
    "zero_shot",
]
