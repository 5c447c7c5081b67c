"""Serve the interactive SignCLIP app (Gradio) for a model on this machine.

Recognize a sign from an uploaded pose, a video or the webcam; find the clips of a gallery dataset that
match a text. The same app file runs the model's Hub Space (`signclip-hf push --space`).
"""

from __future__ import annotations

import argparse

from .. import cli


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_model(parser)
    parser.add_argument(
        "--gallery",
        default=None,
        metavar="DATASET",
        help="pose dataset to search by text (a `build-dataset` folder or a Hub dataset id)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", metavar="ADDRESS", help="address to serve on (this machine only by default)"
    )
    parser.add_argument("--port", type=cli.positive_int, default=7860, metavar="PORT", help="port to serve on")
    parser.add_argument("--max-upload-mb", type=cli.positive_float, default=50.0, metavar="MB", help="largest accepted upload")


def run(args: argparse.Namespace) -> int:
    import os

    from ..extras import require
    from ..loading import resolve_dataset, resolve_model

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # a local tool: no usage pings
    model = resolve_model(args.model)  # a wrong path fails now, not after the app's imports and Hub retries
    gallery = resolve_dataset(args.gallery) if args.gallery else None
    require("gradio", "app")
    from ..sample_data import SAMPLE_DIR
    from ..space.app import AppLimits, build_demo, launch

    demo = build_demo(model, gallery, SAMPLE_DIR, AppLimits(max_upload_mb=args.max_upload_mb))
    print(f"SignCLIP app for {args.model}: http://{args.host}:{args.port}", flush=True)
    launch(demo, args.host, args.port)
    return 0
