"""Evaluate a model on datasets: embed once, then run the protocols on the embeddings.

Each split's clips go through the pose tower once (`embed_dataset`, cached next to the saved dataset)
and every prompt a task needs through the text tower once; the protocols (`protocols.py`) then score
those embeddings. `run_evaluation` runs several tasks (what `signclip-hf evaluate` and the demo run);
`retrieval`, `zero_shot`, `few_shot` and `linear_probe` run one on datasets, embedding a dataset
without a `pose_embedding` column with the given model (an existing column is trusted to come from it).

The protocols are entries of `PROTOCOLS` (name -> `Protocol`: whether it trains on a split, the prompts it
embeds, how it scores): adding a protocol is adding one entry.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from datasets import Dataset, DatasetDict

from ..data.collate import dataset_prompts
from ..data.labels import first_prompt_per_class, label_strings
from ..data.splits import load_splits, signer_independent_split
from ..embedding import EMBEDDING_COLUMN, embed_dataset, embed_texts, embeddings_of
from .protocols import (
    ClassificationResult,
    FewShotResult,
    RetrievalResult,
    few_shot_on_embeddings,
    linear_probe_on_embeddings,
    retrieval_on_embeddings,
    zero_shot_on_embeddings,
)


@dataclass
class EmbeddedSplit:
    """What the protocols read from an embedded split: each clip's pose embedding, label and prompt (read once)."""

    dataset: Dataset
    label_column: str = "label"
    text_column: str = "text"

    @cached_property
    def pose_embeds(self) -> np.ndarray:
        return embeddings_of(self.dataset)

    @cached_property
    def labels(self) -> list[str]:
        return label_strings(self.dataset, self.label_column)

    @cached_property
    def prompts(self) -> list[str]:
        return dataset_prompts(self.dataset, self.text_column)

    def class_prompts(self) -> tuple[list[str], list[str]]:
        """Sorted class names and each class's prompt (that of its first clip)."""
        return first_prompt_per_class(self.labels, self.prompts)


@dataclass
class PromptEmbeddings:
    """Text embeddings of distinct prompts, embedded together; calling it with prompts stacks their rows."""

    index: dict[str, int]
    embeds: np.ndarray

    @classmethod
    def embed(cls, model, processor, prompts: Sequence[str]) -> PromptEmbeddings:
        distinct = list(dict.fromkeys(prompts))
        embeds = embed_texts(model, processor, distinct) if distinct else np.zeros((0, 0), dtype=np.float32)
        return cls({prompt: i for i, prompt in enumerate(distinct)}, embeds)

    def __call__(self, prompts: Sequence[str]) -> np.ndarray:
        return self.embeds[[self.index[prompt] for prompt in prompts]]


def _no_prompts(test: EmbeddedSplit) -> list[str]:
    return []


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol on embedded splits.

    Attributes:
        needs_train: whether it learns from a training split (few-shot support, linear-probe training data).
        run: `(test, train, text, **options) -> result`; `text` gives the embeddings of `prompts(test)`.
        prompts: the prompts it scores the clips against (embedded once with every other task's).
        options: the keyword arguments it takes from an `EvaluationConfig`.
    """

    needs_train: bool
    run: Callable[..., Any]
    prompts: Callable[[EmbeddedSplit], list[str]] = _no_prompts
    options: Callable[[EvaluationConfig], dict] = lambda config: {}


def _retrieval(test: EmbeddedSplit, train, text: PromptEmbeddings, **options) -> RetrievalResult:
    prompts = _clip_prompts(test)
    return retrieval_on_embeddings(test.pose_embeds, test.prompts, prompts, text(prompts), **options)


def _clip_prompts(test: EmbeddedSplit) -> list[str]:
    return list(dict.fromkeys(test.prompts))


def _zero_shot(test: EmbeddedSplit, train, text: PromptEmbeddings, **options) -> ClassificationResult:
    class_names, prompts = test.class_prompts()
    return zero_shot_on_embeddings(test.pose_embeds, test.labels, class_names, text(prompts), **options)


def _few_shot(test: EmbeddedSplit, train: EmbeddedSplit, text, **options) -> FewShotResult:
    return few_shot_on_embeddings(train.pose_embeds, train.labels, test.pose_embeds, test.labels, **options)


def _linear_probe(test: EmbeddedSplit, train: EmbeddedSplit, text, **options) -> ClassificationResult:
    return linear_probe_on_embeddings(train.pose_embeds, train.labels, test.pose_embeds, test.labels, **options)


PROTOCOLS: dict[str, Protocol] = {
    "retrieval": Protocol(needs_train=False, run=_retrieval, prompts=_clip_prompts),
    "zero-shot": Protocol(needs_train=False, run=_zero_shot, prompts=lambda test: test.class_prompts()[1]),
    "few-shot": Protocol(
        needs_train=True, run=_few_shot, options=lambda config: {"shots": config.shots, "seeds": config.seeds}
    ),
    "linear-probe": Protocol(needs_train=True, run=_linear_probe),
}
TASKS = tuple(PROTOCOLS)


def _protocol(task: str) -> Protocol:
    if task not in PROTOCOLS:
        raise ValueError(f"unknown task {task!r}; choose from {TASKS}")
    return PROTOCOLS[task]


def task_prompts(task: str, test: EmbeddedSplit) -> list[str]:
    """The prompts a task scores the clips against: the distinct clip prompts (retrieval) or one per class."""
    return _protocol(task).prompts(test)


def run_protocol(
    task: str, test: EmbeddedSplit, train: EmbeddedSplit | None, text: PromptEmbeddings, **options
) -> ClassificationResult | FewShotResult | RetrievalResult:
    """One task on embedded splits (`options`: the protocol's own keyword arguments, e.g. `shots`)."""
    protocol = _protocol(task)
    if protocol.needs_train and train is None:
        raise ValueError(f"{task} needs a training split")
    return protocol.run(test, train, text, **options)


def ensure_embedded(model, processor, dataset: Dataset, batch_size: int = 32) -> Dataset:
    """The dataset itself if it has `pose_embedding`, else the dataset embedded with `model`."""
    if EMBEDDING_COLUMN in dataset.column_names:
        return dataset
    if model is None or processor is None:
        raise ValueError(f"the dataset has no {EMBEDDING_COLUMN!r} column; give a model and processor to embed it")
    return embed_dataset(model, processor, dataset, batch_size=batch_size)


def run_task(
    task: str,
    model,
    processor,
    test: Dataset,
    train: Dataset | None = None,
    label_column: str = "label",
    text_column: str = "text",
    batch_size: int = 32,
    **options,
):
    """One task on datasets, embedding those without a `pose_embedding` column.

    A training protocol whose training clips are its test clips (the same dataset, or shared `file` entries)
    is refused: its numbers would be inflated."""
    if train is not None:
        _refuse_overlap(task, train, test)
    test_split = EmbeddedSplit(ensure_embedded(model, processor, test, batch_size), label_column, text_column)
    train_split = None
    if train is not None:
        train_split = EmbeddedSplit(ensure_embedded(model, processor, train, batch_size), label_column, text_column)
    text = PromptEmbeddings.embed(model, processor, task_prompts(task, test_split))
    return run_protocol(task, test_split, train_split, text, **options)


def _refuse_overlap(task: str, train: Dataset, test: Dataset) -> None:
    """A ValueError when `train` and `test` share clips (the same dataset object or the same `file` entries)."""
    shared = 0
    if train is test:
        shared = len(test)
    elif "file" in train.column_names and "file" in test.column_names:
        shared = len(set(train["file"]) & set(test["file"]))
    if shared:
        raise ValueError(
            f"{task} would train and test on the same clips ({shared} shared): give training clips that are not "
            "in the evaluated set (e.g. other signers)"
        )


def retrieval(
    model, processor, dataset: Dataset, text_column: str = "text", ks: Sequence[int] = (1, 5, 10), batch_size: int = 32
) -> RetrievalResult:
    """Text<->pose retrieval over the dataset: each clip is paired with its own prompt (see `retrieval_on_embeddings`)."""
    return run_task("retrieval", model, processor, dataset, text_column=text_column, batch_size=batch_size, ks=ks)


def zero_shot(
    model, processor, dataset: Dataset, label_column: str = "label", text_column: str = "text", batch_size: int = 32
) -> ClassificationResult:
    """Zero-shot ISLR: argmax over the classes' prompts (`"<en> <ase> {gloss}"`) of pose · text."""
    return run_task("zero-shot", model, processor, dataset, None, label_column, text_column, batch_size)


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
    """k-shot ISLR with support clips from `support` (e.g. the training signers), queries from `query`
    (see `few_shot_on_embeddings`)."""
    return run_task("few-shot", model, processor, query, support, label_column, batch_size=batch_size,
                    shots=shots, seeds=seeds, unknown_labels=unknown_labels)


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
    """Logistic regression on frozen pose embeddings of `train`, tested on `test` (see `linear_probe_on_embeddings`)."""
    return run_task("linear-probe", model, processor, test, train, label_column, batch_size=batch_size,
                    regularization=regularization, max_iter=max_iter, unknown_labels=unknown_labels)


@dataclass
class EvaluationConfig:
    """What `run_evaluation` runs (the `signclip-hf evaluate` options).

    Attributes:
        tasks: names in `PROTOCOLS`.
        split / train_split: the evaluated split, and the few-shot support / linear-probe training split.
        shots / seeds: few-shot settings (metrics averaged over the seeds).
        label_column / text_column: the dataset's class and prompt columns.
        batch_size: clips per pose-tower forward pass.
        plots_dir: if given, `embeddings.png` and `confusion_<task>.png` are written there.
        signer_split / seed: a dataset without splits that a training protocol runs on is split by signer
            (this fraction of the clips held out for evaluation), with a warning; training and testing on
            the same clips would inflate the numbers.
    """

    tasks: Sequence[str] = ("retrieval",)
    split: str = "test"
    train_split: str = "train"
    shots: Sequence[int] = (1, 5, 10)
    seeds: Sequence[int] = (0, 1, 2)
    label_column: str = "label"
    text_column: str = "text"
    batch_size: int = 32
    plots_dir: str | Path | None = None
    signer_split: float = 0.5
    seed: int = 0
    signer_column: str = "signer"

    def __post_init__(self):
        for task in self.tasks:
            _protocol(task)

    @property
    def trained_tasks(self) -> list[str]:
        """The tasks that learn from the training split."""
        return [task for task in self.tasks if PROTOCOLS[task].needs_train]

    @property
    def needs_train(self) -> bool:
        return bool(self.trained_tasks)


def _unsplit_by_signer(dataset: Dataset, config: EvaluationConfig) -> tuple[Dataset, Dataset]:
    """(train, test) of a dataset without splits, by signer: support and query must not be the same clips."""
    trained = config.trained_tasks
    column = config.signer_column
    if column not in dataset.column_names or len(set(dataset[column]) - {"", None}) < 2:
        raise ValueError(
            f"the dataset has no splits and no {column!r} column with two or more signers to split by: "
            f"{', '.join(trained)} would train and test on the same clips; give a dataset with "
            f"{config.train_split!r} and {config.split!r} splits"
        )
    parts = signer_independent_split(dataset, test_size=config.signer_split, seed=config.seed, signer_column=column)
    signers = {name: sorted(set(part[column])) for name, part in parts.items()}
    warnings.warn(
        f"the dataset has no splits: {', '.join(config.tasks)} run on a signer-independent split "
        f"(seed {config.seed}): trained on {len(parts['train'])} clips of {signers['train']}, evaluated on "
        f"{len(parts['test'])} clips of {signers['test']}",
        UserWarning,
        stacklevel=3,
    )
    return parts["train"], parts["test"]


def run_evaluation(
    model, processor, dataset: Dataset | DatasetDict, config: EvaluationConfig | Sequence[str] | None = None, **options
) -> dict:
    """Run `config.tasks` on `config.split` (training protocols learn from `config.train_split`).

    `run_evaluation(model, processor, dataset, EvaluationConfig(tasks=TASKS))`; keyword `options` set or
    override config fields (and a sequence of task names stands for `tasks=`, as before). Returns
    {task: result} with the protocols' result objects; with `plots_dir`, writes `embeddings.png` (the
    evaluated split) and `confusion_<task>.png` for the classification tasks. A dataset without splits that
    a training protocol runs on is split by signer, with a warning (see `EvaluationConfig`).
    """
    from dataclasses import replace

    from .plots import plot_confusion_matrix, plot_dataset_embeddings

    if config is not None and not isinstance(config, EvaluationConfig):
        options = {"tasks": tuple(config), **options}
        config = None
    config = replace(config or EvaluationConfig(), **options)
    tasks, batch_size = config.tasks, config.batch_size
    if isinstance(dataset, Dataset) and config.needs_train:
        train_data, test_data = _unsplit_by_signer(dataset, config)
    else:
        if config.needs_train and config.train_split == config.split:
            trained = config.trained_tasks
            raise ValueError(
                f"{', '.join(trained)} would train and test on the same clips: split {config.split!r} is both the "
                "evaluated and the training split; evaluate another split or train on another one"
            )
        train_split = config.train_split if config.needs_train else None
        train_data, test_data = load_splits(dataset, train_split, config.split, allow_unsplit=True)
        if config.needs_train:
            _refuse_overlap(", ".join(config.trained_tasks), train_data, test_data)
    columns = (config.label_column, config.text_column)
    test = EmbeddedSplit(embed_dataset(model, processor, test_data, batch_size), *columns)
    train = None
    if config.needs_train:
        train = EmbeddedSplit(embed_dataset(model, processor, train_data, batch_size), *columns)
    text = PromptEmbeddings.embed(model, processor, [prompt for task in tasks for prompt in task_prompts(task, test)])
    results = {task: run_protocol(task, test, train, text, **PROTOCOLS[task].options(config)) for task in tasks}
    if config.plots_dir is not None:
        plots_dir = Path(config.plots_dir)
        plot_dataset_embeddings(test.dataset, plots_dir / "embeddings.png", title=f"pose embeddings ({config.split})")
        for task, result in results.items():
            if hasattr(result, "class_names"):
                plot_confusion_matrix(result.references, result.predictions, result.class_names,
                                      plots_dir / f"confusion_{task}.png", title=f"{task} confusion matrix",
                                      left_out=result.skipped_labels)
    return results


def format_table(results: dict) -> str:
    """Results as a text table: one line per (task, setting, metric)."""
    lines = [f"{'task':<14} {'setting':<10} {'metric':<18} {'value':>10}", "-" * 55]
    for task, result in results.items():
        metrics = result.metrics
        nested = metrics if all(isinstance(v, dict) for v in metrics.values()) else {"": metrics}
        for setting, values in nested.items():
            for name, value in values.items():
                shown = f"{value:.4f}" if isinstance(value, float) else str(value)
                lines.append(f"{task:<14} {setting:<10} {name:<18} {shown:>10}")
    return "\n".join(lines)


__all__ = [
    "PROTOCOLS",
    "TASKS",
    "EmbeddedSplit",
    "EvaluationConfig",
    "PromptEmbeddings",
    "Protocol",
    "ensure_embedded",
    "few_shot",
    "format_table",
    "linear_probe",
    "retrieval",
    "run_evaluation",
    "run_protocol",
    "run_task",
    "zero_shot",
]
