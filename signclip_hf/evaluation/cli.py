"""`signclip-hf evaluate MODEL DATASET --task retrieval|zero-shot|few-shot|linear-probe ...`

The command line of `run.run_evaluation`: loads the model and the saved dataset, runs the tasks, prints a
table and writes the results as JSON (and, with `--plots`, the embedding-space and confusion-matrix PNGs).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .run import TASKS, format_table, run_evaluation


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

    from ..data.build import load_saved
    from ..loading import resolve_model as check_model_path

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


__all__ = ["add_arguments", "run"]
