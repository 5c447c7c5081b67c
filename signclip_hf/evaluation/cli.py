"""`signclip-hf evaluate MODEL DATASET --task retrieval|zero-shot|few-shot|linear-probe ...`

Embeds the needed splits once (cached next to the saved dataset), runs each task, prints a table and
writes the results as JSON (and, with `--plots`, the embedding-space and confusion-matrix PNGs).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from datasets import Dataset, DatasetDict

TASKS = ("retrieval", "zero-shot", "few-shot", "linear-probe")


def pick_split(dataset: Dataset | DatasetDict, split: str | None, role: str) -> Dataset:
    if isinstance(dataset, Dataset):
        return dataset
    if split not in dataset:
        raise ValueError(f"no {role} split {split!r} in the dataset; splits: {list(dataset)}")
    return dataset[split]


def run_evaluation(
    model,
    processor,
    dataset: Dataset | DatasetDict,
    tasks: Sequence[str] = ("retrieval", "zero-shot"),
    split: str = "test",
    train_split: str = "train",
    shots: Sequence[int] = (1, 5, 10),
    seeds: Sequence[int] = (0, 1, 2),
    label_column: str = "label",
    text_column: str = "text",
    batch_size: int = 32,
    plots_dir: str | Path | None = None,
) -> dict:
    """Run `tasks` on `split` (few-shot support / linear-probe training data from `train_split`).

    Returns {task: result} with the protocols' result objects; with `plots_dir`, writes
    `embeddings.png` (the evaluated split) and `confusion_<task>.png` for the classification tasks.
    """
    from .embed import embed_dataset
    from .plots import plot_confusion_matrix, plot_dataset_embeddings
    from .protocols import few_shot, linear_probe, retrieval, zero_shot

    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; choose from {TASKS}")
    test = embed_dataset(model, processor, pick_split(dataset, split, "evaluation"), batch_size)
    needs_train = {"few-shot", "linear-probe"} & set(tasks)
    train = None
    if needs_train:
        train = embed_dataset(model, processor, pick_split(dataset, train_split, "training"), batch_size)
    results = {}
    for task in tasks:
        if task == "retrieval":
            results[task] = retrieval(model, processor, test, text_column)
        elif task == "zero-shot":
            results[task] = zero_shot(model, processor, test, label_column, text_column)
        elif task == "few-shot":
            results[task] = few_shot(model, processor, train, test, shots, seeds, label_column)
        else:
            results[task] = linear_probe(model, processor, train, test, label_column)
    if plots_dir is not None:
        plots_dir = Path(plots_dir)
        plot_dataset_embeddings(test, plots_dir / "embeddings.png", title=f"pose embeddings ({split})")
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="SignCLIP model directory (AutoModel + AutoProcessor)")
    parser.add_argument("dataset", help="saved dataset directory (signclip-hf build-dataset)")
    parser.add_argument("--task", nargs="+", choices=TASKS, default=["retrieval"], help="one or more tasks")
    parser.add_argument("--split", default="test", help="evaluated split (for a dataset with splits)")
    parser.add_argument("--train-split", default="train", help="few-shot support / linear-probe training split")
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 5, 10])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output", default=None, help="write the results as JSON here")
    parser.add_argument("--plots", default=None, help="directory for the embedding / confusion PNGs")


def run(args: argparse.Namespace) -> int:
    from transformers import AutoModel, AutoProcessor

    from ..model_factory import check_model_path
    from ..data.build import load_saved

    model_path = check_model_path(args.model)
    model = AutoModel.from_pretrained(model_path)
    processor = AutoProcessor.from_pretrained(model_path)
    results = run_evaluation(
        model, processor, load_saved(args.dataset), args.task, args.split, args.train_split, args.shots,
        args.seeds, args.label_column, args.text_column, args.batch_size, args.plots,
    )
    print(format_table(results))
    if args.output:
        payload = {"model": args.model, "dataset": args.dataset, "split": args.split,
                   "results": {task: result.to_dict() for task, result in results.items()}}
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(payload, indent=2))
        print(f"wrote {args.output}")
    if args.plots:
        print(f"wrote plots to {args.plots}")
    return 0


__all__ = ["TASKS", "format_table", "run_evaluation"]
