"""Fine-tune an isolated sign recognition (ISLR) classifier with `Trainer`.

The classifier starts as the zero-shot classifier over the training split's glosses and is saved with its
processor and pipeline code to `--output` (`AutoModelForVideoClassification` / `pipeline` give glosses).
The options below are the common ones; `--config FILE.yaml` (a flat mapping) and `--set KEY=VALUE` set any
field of `FinetuneArguments` or transformers' `TrainingArguments` (e.g. `--set lr_scheduler_type=cosine`),
each checked by name and type before anything runs. An option given here wins over `--set`, which wins over
`--config`, which wins over the defaults shown.
"""

from __future__ import annotations

import argparse

from .. import cli

# the package's defaults (`training.finetune.training_defaults()` / `FinetuneArguments`; a test keeps them equal)
DEFAULTS = {
    "num_train_epochs": 10.0,
    "per_device_train_batch_size": 16,
    "learning_rate": 5e-5,
    "label_smoothing_factor": 0.1,
    "layer_lr_decay": 0.8,
    "wise_ft_alpha": 1.0,
    "early_stopping_patience": 3,
    "seed": 0,
    "label_column": "label",
    "text_column": "text",
    "unknown_labels": "skip",
}
UNKNOWN_LABELS = ("skip", "error")


class _Given(argparse.Action):
    """Stores the value and records that the option was given (so it wins over `--config` and `--set`)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)
        namespace.given = [*getattr(namespace, "given", []), self.dest]


def _field(parser: argparse.ArgumentParser, flag: str, dest: str, help: str, **kwargs) -> None:
    """An option setting the `FinetuneArguments` / `TrainingArguments` field `dest`."""
    parser.add_argument(flag, dest=dest, action=_Given, default=DEFAULTS.get(dest), help=help, **kwargs)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_model(parser, help="SignCLIP model to start from: a local directory or a Hub repo id")
    cli.add_dataset(parser, help="dataset with splits: a `build-dataset` folder or a Hub dataset id")
    cli.add_output(parser, metavar="DIR", help="directory of the fine-tuned classifier (and its checkpoints)")
    parser.add_argument("--train-split", default="train", metavar="SPLIT", help="split to train on")
    parser.add_argument(
        "--eval-split", default="test", metavar="SPLIT",
        help="held-out split for checkpoint selection and early stopping ('' for none)",
    )  # fmt: skip
    _field(parser, "--epochs", "num_train_epochs", "training epochs", type=float, metavar="N")
    _field(parser, "--max-steps", "max_steps", "stop after this many optimizer steps (overrides --epochs)",
           type=cli.positive_int, metavar="N")  # fmt: skip
    _field(parser, "--batch-size", "per_device_train_batch_size", "training clips per batch and device",
           type=cli.positive_int, metavar="N")  # fmt: skip
    _field(parser, "--learning-rate", "learning_rate", "peak learning rate (of the top layers)", type=float, metavar="LR")
    _field(parser, "--label-smoothing", "label_smoothing_factor", "label smoothing of the classification loss",
           type=float, metavar="EPS")  # fmt: skip
    _field(parser, "--layer-lr-decay", "layer_lr_decay",
           "layer-wise learning-rate decay: pose layer i of L trains at LR * decay ** (L - i) (1: off)",
           type=float, metavar="DECAY")  # fmt: skip
    _field(parser, "--wise-ft-alpha", "wise_ft_alpha",
           "WiSE-FT: save zero_shot + alpha * (fine_tuned - zero_shot) (1: the fine-tuned weights)",
           type=float, metavar="ALPHA")  # fmt: skip
    _field(parser, "--early-stopping-patience", "early_stopping_patience", "evaluations without improvement",
           type=int, metavar="N")  # fmt: skip
    _field(parser, "--seed", "seed", "random seed", type=int, metavar="N")
    _field(parser, "--label-column", "label_column", "column of gloss names (the classes)", metavar="NAME")
    _field(parser, "--text-column", "text_column", "column of the prompts the classifier starts from", metavar="NAME")
    _field(parser, "--unknown-labels", "unknown_labels", "evaluation clips of glosses unseen in training",
           choices=UNKNOWN_LABELS)  # fmt: skip
    _field(parser, "--no-augment", "augment", "train on the clips as they are (no PoseAugmentation)", nargs=0,
           const=False)  # fmt: skip
    _field(parser, "--no-zero-shot-candidate", "keep_zero_shot",
           "always save the fine-tuned weights; without it the zero-shot classifier it starts from is saved "
           "instead when it scores at least as well on the evaluation split", nargs=0, const=False)  # fmt: skip
    _field(parser, "--no-resume", "resume", "start afresh even if OUTPUT holds checkpoints", nargs=0, const=False)
    cli.add_config(parser, example="lr_scheduler_type=cosine")


def run(args: argparse.Namespace) -> int:
    from ..data.splits import load_splits
    from ..training.finetune import finetune, finetune_arguments

    given = {dest: getattr(args, dest) for dest in getattr(args, "given", [])}
    try:  # every option checked before the model or the data are read
        options, training_args = finetune_arguments(args.output, args.config, args.overrides, **given)
    except ValueError as error:  # TrainingArguments explains over several lines
        raise ValueError(" ".join(str(error).split())) from None
    train, evaluation = load_splits(args.dataset, args.train_split, args.eval_split or None)
    result = finetune(args.model, train, evaluation, options, training_args)
    selection = result.selection
    if selection is not None:
        print(f"checkpoint selection on {selection['metric']}: zero-shot {selection['zero_shot']:.4f}, "
              f"fine-tuned {selection['fine_tuned']:.4f} -> saved the {selection['selected']} classifier")
    for key, value in result.metrics.items():
        print(f"{key:>28}  {value:.4f}" if isinstance(value, float) else f"{key:>28}  {value}")
    print(f"saved the fine-tuned model and processor to {result.output_dir}")
    return 0
