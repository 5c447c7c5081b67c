"""Evaluate a model on a pose dataset: retrieval, zero-shot, few-shot and linear-probe ISLR.

Each clip is embedded once; the protocols then score the embeddings. Prints a table, writes the results as
JSON (`--output`) and, with `--plots`, the embedding-space and confusion-matrix PNGs. On a dataset without
splits, few-shot and linear-probe train and test on a split made by signer (with a warning).
"""

from __future__ import annotations

import argparse

from .. import cli

TASKS = ("retrieval", "zero-shot", "few-shot", "linear-probe")  # evaluation.run.PROTOCOLS (checked in the tests)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_model(parser)
    cli.add_dataset(parser)
    cli.add_repeatable(
        parser, "--task", "TASK", choices=TASKS, help="protocol to run; repeat for several (retrieval when none)"
    )
    parser.add_argument("--split", default="test", metavar="NAME", help="evaluated split (of a dataset with splits)")
    parser.add_argument(
        "--train-split", default="train", metavar="NAME", help="few-shot support / linear-probe training split"
    )
    parser.add_argument(
        "--shots",
        type=cli.positive_ints,
        default=(1, 5, 10),
        metavar="K,K,...",
        help="few-shot support clips per class",
    )
    parser.add_argument(
        "--seeds", type=cli.ints, default=(0, 1, 2), metavar="S,S,...", help="few-shot support draws (metrics averaged)"
    )
    parser.add_argument("--label-column", default="label", metavar="NAME", help="dataset column of the class labels")
    parser.add_argument("--text-column", default="text", metavar="NAME", help="dataset column of the prompt texts")
    cli.add_batch_size(parser)
    cli.add_output(parser, help="results JSON", required=False)
    parser.add_argument("--plots", default=None, metavar="DIR", help="also write the embedding / confusion PNGs here")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ..evaluation.run import EvaluationConfig, format_table, run_evaluation
    from ..loading import load_dataset, load_model

    config = EvaluationConfig(
        tasks=tuple(dict.fromkeys(args.task or ["retrieval"])),
        split=args.split,
        train_split=args.train_split,
        shots=args.shots,
        seeds=args.seeds,
        label_column=args.label_column,
        text_column=args.text_column,
        batch_size=args.batch_size,
        plots_dir=args.plots,
    )
    dataset = load_dataset(args.dataset)
    model, processor = load_model(args.model)
    results = run_evaluation(model, processor, dataset, config)
    print(format_table(results))
    if args.output:
        payload = {"model": args.model, "dataset": args.dataset, "split": args.split,
                   "results": {task: result.to_dict() for task, result in results.items()}}  # fmt: skip
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(payload, indent=2))
        print(f"wrote {args.output}")
    if args.plots:
        print(f"wrote plots to {args.plots}")
    return 0
