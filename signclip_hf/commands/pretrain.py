"""Contrastive pretraining from a YAML config, with Accelerate (one or many processes, resumable).

Launch it through Accelerate so the same code runs on one device, DDP, FSDP or DeepSpeed:

    accelerate launch -m signclip_hf.cli pretrain --config examples/configs/pretrain_gestures.yaml
    accelerate launch -m signclip_hf.cli pretrain --config C.yaml --resume latest --set optim.lr=1e-4

The config's sections and keys are those of `signclip_hf.training.config.PretrainConfig`; checkpoints go to
OUTPUT/checkpoints and the final model to OUTPUT/final (OUTPUT: `--output`, else the config's `output_dir`).
"""

from __future__ import annotations

import argparse

from .. import cli


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_config(parser, required=True)
    parser.add_argument(
        "--resume", default=None, metavar="CHECKPOINT|latest",
        help="continue from a checkpoint directory, or from the newest intact one in OUTPUT/checkpoints",
    )  # fmt: skip
    cli.add_output(parser, required=False, metavar="DIR", help="run directory (the config's output_dir)")


def run(args: argparse.Namespace) -> int:
    from accelerate import PartialState

    from ..training.config import PretrainConfig
    from ..training.pretrain import pretrain

    overrides = list(args.overrides) + ([f"output_dir={args.output}"] if args.output else [])
    config = PretrainConfig.from_yaml(args.config, overrides)  # every value checked before anything runs
    final = pretrain(config, resume=args.resume)
    if PartialState().is_main_process:
        print(f"final model: {final}")
    return 0
