"""`signclip-hf` command line: one subcommand per toolkit module, imported only when used."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# subcommand -> module defining `add_arguments(parser)` and `run(args) -> int | None`
COMMANDS = {
    "build-dataset": ("signclip_hf.data.build_cli", "Build a datasets.Dataset from a folder of .pose files"),
    "pretrain": ("signclip_hf.training.pretrain", "Contrastive pretraining (launch with `accelerate launch`)"),
    "evaluate": ("signclip_hf.evaluation.cli", "Retrieval / zero-shot / few-shot / linear-probe evaluation"),
    "finetune": ("signclip_hf.evaluation.finetune", "Fine-tune an ISLR classifier with Trainer"),
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
    parser = argparse.ArgumentParser(prog="signclip-hf", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        subparser = subparsers.add_parser(name, help=help_text, description=help_text)
        subparser.set_defaults(module_name=module_name)
        if name in sys.argv[1:2]:  # only the chosen subcommand's module is imported
            importlib.import_module(module_name).add_arguments(subparser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a subcommand; bad input (missing files, invalid poses, bad options) ends with a one-line error.

    Set SIGNCLIP_HF_TRACEBACK=1 to see the full traceback instead.
    """
    argv = sys.argv[1:] if argv is None else argv
    sys.argv[1:] = argv
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(importlib.import_module(args.module_name).run(args) or 0)
    except (OSError, ValueError) as error:  # InvalidPoseError, UnknownLanguageError are ValueErrors
        if os.environ.get("SIGNCLIP_HF_TRACEBACK"):
            raise
        parser.exit(2, f"signclip-hf {args.command}: error: {error}\n")


if __name__ == "__main__":
    raise SystemExit(main())
