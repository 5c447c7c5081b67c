"""`signclip-hf` command line: one subcommand per toolkit module, imported only when used."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from transformers import HfArgumentParser

# subcommand -> module defining `add_arguments(parser)` and `run(*parsed) -> int | None`, where `parsed` is what
# `HfArgumentParser.parse_args_into_dataclasses` returns: an instance of each of the module's
# `ARGUMENT_DATACLASSES` (if any), then the namespace of the arguments `add_arguments` added
COMMANDS = {
    "build-dataset": ("signclip_hf.data.build_cli", "Build a datasets.Dataset from a folder of .pose files"),
    "pretrain": ("signclip_hf.training.pretrain", "Contrastive pretraining (launch with `accelerate launch`)"),
    "evaluate": ("signclip_hf.evaluation.cli", "Retrieval / zero-shot / few-shot / linear-probe evaluation"),
    "finetune": ("signclip_hf.training.finetune", "Fine-tune an ISLR classifier with Trainer"),
    "demo": ("signclip_hf.demo", "The main job: build, train and evaluate on the bundled sample"),
    "convert": ("signclip_hf.convert", "Convert a released fairseq SignCLIP checkpoint"),
    "push": ("signclip_hf.hub", "Push a model directory (+ remote code, card) to the Hub"),
    "index": ("signclip_hf.search.index_cli", "Build a FAISS search index over a pose dataset's embeddings"),
    "search": ("signclip_hf.search.search_cli", "Search an index by text or by .pose clip"),
    "app": ("signclip_hf.space.cli", "Serve the interactive SignCLIP app (Gradio) for a model"),
    "video-to-pose": ("signclip_hf.video", "Extract MediaPipe Holistic .pose files from a folder of videos"),
    "render": ("signclip_hf.render", "Render a .pose file as an animated skeleton GIF/MP4"),
    "spot": ("signclip_hf.spotting.cli", "Find where text queries are signed in a long recording"),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: lists the subcommands (each one's options are read by `command_parser`)."""
    parser = argparse.ArgumentParser(prog="signclip-hf", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        subparsers.add_parser(name, help=help_text, add_help=False)
    return parser


def command_parser(command: str) -> tuple[HfArgumentParser, object]:
    """The parser of one subcommand (its module is imported here, only when used), and the module."""
    module_name, help_text = COMMANDS[command]
    module = importlib.import_module(module_name)
    parser = HfArgumentParser(
        getattr(module, "ARGUMENT_DATACLASSES", ()), prog=f"signclip-hf {command}", description=help_text
    )
    module.add_arguments(parser)
    return parser, module


def main(argv: list[str] | None = None) -> int:
    """Run a subcommand; bad input (missing files, invalid poses, bad options) ends with a one-line error.

    Set SIGNCLIP_HF_TRACEBACK=1 to see the full traceback instead.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        build_parser().parse_args(argv)  # prints the help, or the usage error, and exits
    command, options = argv[0], argv[1:]
    parser, module = command_parser(command)
    try:
        *parsed, unknown = parser.parse_args_into_dataclasses(
            options, return_remaining_strings=True, look_for_args_file=False
        )
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        return int(module.run(*parsed) or 0)
    except (OSError, ValueError) as error:  # InvalidPoseError, UnknownLanguageError are ValueErrors
        if os.environ.get("SIGNCLIP_HF_TRACEBACK"):
            raise
        parser.exit(2, f"signclip-hf {command}: error: {error}\n")


if __name__ == "__main__":
    raise SystemExit(main())
