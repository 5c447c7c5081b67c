"""Convert a released fairseq SignCLIP checkpoint into a transformers model directory (safe loading).

Only tensors and plain containers are unpickled. Every architecture number is read from the tensors; the
attention head count from the checkpoint's training config, else `--head-size`, else 64 per head. The
converted directory is reloaded and scored on the bundled house.pose next to the released model's scores.
Exits with status 1 when some checkpoint tensors were not recognized (listed in the report).
"""

from __future__ import annotations

import argparse

from .. import cli

DTYPES = ("bfloat16", "float16", "float32")  # `convert.DTYPES`; a test keeps them equal


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="fairseq SignCLIP checkpoint (.pt)")
    cli.add_output(parser, metavar="DIR", help="directory to write the transformers model into")
    parser.add_argument(
        "--tokenizer", required=True, metavar="DIR", help="BERT tokenizer of the text tower (a directory or a Hub id)"
    )
    parser.add_argument("--dtype", choices=DTYPES, default="float32", help="dtype of the saved weights")
    parser.add_argument(
        "--head-size", type=cli.positive_int, default=None, metavar="N",
        help="attention head size (hidden / heads), when the checkpoint's config states no head count",
    )  # fmt: skip
    parser.add_argument(
        "--max-frames", type=cli.positive_int, default=256, metavar="N", help="frames the pose tower was trained with"
    )
    parser.add_argument("--no-verify", action="store_true", help="skip the house.pose self-check")


def run(args: argparse.Namespace) -> int:
    from ..convert import convert_checkpoint

    report = convert_checkpoint(
        args.checkpoint, args.output, args.tokenizer, args.dtype, args.head_size, args.max_frames,
        verify=not args.no_verify,
    )  # fmt: skip
    print(report.format())
    return 1 if report.unrecognized else 0
