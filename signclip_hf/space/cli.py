"""`signclip-hf app MODEL [--gallery DATASET]`: serve the SignCLIP Gradio app (see `app.py`) on this machine."""

from __future__ import annotations

import argparse
import os

from ..sample_data import SAMPLE_DIR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="SignCLIP model directory or Hub repo id")
    parser.add_argument("--gallery", help="dataset folder or Hub dataset built by `signclip-hf build-dataset`")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default: this machine only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--max-upload-mb", type=float, default=50.0, help="largest accepted upload")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # a local tool: no usage pings
    try:
        from .app import AppLimits, build_demo, launch
    except ImportError as error:
        raise OSError(f"the app needs gradio: pip install 'signclip-hf[app]' ({error})") from None

    demo = build_demo(args.model, args.gallery, SAMPLE_DIR, AppLimits(max_upload_mb=args.max_upload_mb))
    print(f"SignCLIP app for {args.model}: http://{args.host}:{args.port}", flush=True)
    launch(demo, args.host, args.port)
    return 0
