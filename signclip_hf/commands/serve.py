"""Serve SignCLIP embeddings over HTTP: the original SignCLIP API, batched, with limits.

`GET /api/embed/pose` with `{"pose": [base64 .pose, ...], "model_name": ...}` or `GET /api/embed/text` with
`{"text": [...]}` answers `{"embeddings": [[...], ...]}`, as the original service (fairseq examples/MMPT
`app.py`); POST works too. Also `/api/embed/video`, `/api/score` (poses x texts), `/health` and the OpenAPI
docs at `/docs`. Several models: `serve MODEL asl=OTHER_MODEL` (the first is the default; requests pick one
with `model_name`). SIGTERM stops listening, lets requests in flight finish, and exits.
"""

from __future__ import annotations

import argparse

from .. import cli


def _model_spec(text: str) -> str:
    if "=" in text and not text.split("=", 1)[0]:
        raise argparse.ArgumentTypeError(f"expected NAME=MODEL with a name, got {text!r}")
    return text


def _milliseconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected milliseconds, got {text!r}") from None
    if not 0 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"expected 0 to 1000 ms, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..serve.config import MIB, ServeConfig  # standard library only: help stays instant
    from ..serve.server import ServerOptions

    config, options = ServeConfig(api_key=None), ServerOptions()
    cli.add_model(parser, help='the default model ("default" in requests): a local directory or a Hub repo id')
    parser.add_argument(
        "more_models", nargs="*", type=_model_spec, default=[], metavar="NAME=MODEL",
        help="more models, picked by requests with model_name NAME",
    )  # fmt: skip
    parser.add_argument("--host", default=options.host, metavar="ADDRESS", help="address to listen on (0.0.0.0: all)")
    parser.add_argument("--port", type=cli.positive_int, default=options.port, metavar="PORT", help="port to listen on")
    parser.add_argument(
        "--workers", type=cli.positive_int, default=options.workers, metavar="N",
        help="server processes, each with its own copy of the models",
    )  # fmt: skip
    parser.add_argument(
        "--api-key", default=None, metavar="KEY",
        help="require this key on /api/* (Authorization: Bearer KEY or X-API-Key: KEY); default: $SIGNCLIP_API_KEY",
    )  # fmt: skip
    cli.add_repeatable(
        parser, "--cors-origin", "ORIGIN",
        "origin allowed by CORS; repeatable (when none is given: any origin, *, as the original)",
    )
    parser.add_argument("--device", default=config.device, metavar="DEVICE", help="where the models run (cpu, cuda)")
    parser.add_argument(
        "--threads", type=cli.positive_int, default=None, metavar="N",
        help="torch threads per server process (none given: one per core; 1 is often faster on a busy CPU)",
    )  # fmt: skip
    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--max-request-mb", type=cli.positive_float, default=config.max_request_bytes / MIB, metavar="MB",
        help="largest request body",
    )  # fmt: skip
    limits.add_argument(
        "--max-clips", type=cli.positive_int, default=config.max_clips, metavar="N", help="poses or videos per request"
    )
    limits.add_argument(
        "--max-clip-frames", type=cli.positive_int, default=config.max_frames, metavar="N", help="frames per clip"
    )
    limits.add_argument(
        "--max-texts", type=cli.positive_int, default=config.max_texts, metavar="N", help="texts per request"
    )
    limits.add_argument(
        "--max-text-chars", type=cli.positive_int, default=config.max_text_chars, metavar="N",
        help="characters per text",
    )
    limits.add_argument(
        "--max-video-seconds", type=cli.positive_float, default=config.max_video_seconds, metavar="S",
        help="longest uploaded video",
    )  # fmt: skip
    limits.add_argument(
        "--limit-concurrency", type=cli.positive_int, default=None, metavar="N",
        help="open connections per process before new ones get 503 (none given: no limit)",
    )  # fmt: skip
    batching = parser.add_argument_group("dynamic batching")
    batching.add_argument(
        "--no-batching", action="store_true", help="one request per forward pass (for comparison)"
    )
    batching.add_argument(
        "--max-wait-ms", type=_milliseconds, default=config.max_wait_ms, metavar="MS",
        help="longest a request waits for others to share its forward pass",
    )  # fmt: skip
    batching.add_argument(
        "--max-batch-clips", type=cli.positive_int, default=config.max_batch_clips, metavar="N",
        help="clips per pose forward pass",
    )
    batching.add_argument(
        "--max-batch-texts", type=cli.positive_int, default=config.max_batch_texts, metavar="N",
        help="texts per text forward pass",
    )
    parser.add_argument(
        "--graceful-timeout", type=cli.positive_float, default=options.graceful_timeout, metavar="S",
        help="on SIGTERM, how long requests in flight may take to finish",
    )  # fmt: skip


def models_from_args(args: argparse.Namespace) -> dict[str, str]:
    """name -> model: MODEL is "default", then each NAME=MODEL."""
    models = {"default": args.model}
    for spec in args.more_models:
        name, _, path = spec.partition("=")
        if not path:
            raise ValueError(f"{spec}: give the extra models as NAME=MODEL (requests pick them by model_name NAME)")
        if name in models:
            raise ValueError(f"model name {name!r} is given twice (the first MODEL is named 'default')")
        models[name] = path
    return models


def run(args: argparse.Namespace) -> int:
    from ..extras import require
    from ..loading import resolve_model
    from ..serve.config import MIB, ServeConfig

    require("fastapi", "serve")
    require("uvicorn", "serve")
    models = {name: resolve_model(path) for name, path in models_from_args(args).items()}
    from ..serve.server import ServerOptions, serve

    overrides = {"api_key": args.api_key} if args.api_key else {}
    config = ServeConfig(
        max_request_bytes=int(args.max_request_mb * MIB),
        max_clips=args.max_clips,
        max_frames=args.max_clip_frames,
        max_texts=args.max_texts,
        max_text_chars=args.max_text_chars,
        max_video_seconds=args.max_video_seconds,
        batching=not args.no_batching,
        max_wait_ms=args.max_wait_ms,
        max_batch_clips=args.max_batch_clips,
        max_batch_texts=args.max_batch_texts,
        cors_origins=tuple(args.cors_origin or ("*",)),
        device=args.device,
        torch_threads=args.threads,
        **overrides,
    )
    options = ServerOptions(
        host=args.host,
        port=args.port,
        workers=args.workers,
        graceful_timeout=args.graceful_timeout,
        limit_concurrency=args.limit_concurrency,
    )
    names = ", ".join(f"{name}={path}" for name, path in models.items())
    print(f"SignCLIP embedding service for {names}: http://{args.host}:{args.port}/docs", flush=True)
    serve(models, config, options)
    return 0
