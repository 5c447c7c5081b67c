"""Running the embedding service under uvicorn: one process, or `workers` processes sharing the port.

With several workers uvicorn starts each process from an import string; the models and the `ServeConfig`
travel to them in the `SIGNCLIP_HF_SERVE` environment variable (JSON), and each worker loads its own copy
of the models. SIGTERM (or Ctrl-C) stops the listening socket at once, lets the requests in flight finish
(up to `graceful_timeout` seconds) and exits with status 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from dataclasses import dataclass, fields

from .config import ServeConfig

SERVE_ENV = "SIGNCLIP_HF_SERVE"
FACTORY = "signclip_hf.serve.server:app_from_environment"


@dataclass(frozen=True)
class ServerOptions:
    """Where and how uvicorn listens."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    graceful_timeout: float = 30.0
    limit_concurrency: int | None = None
    log_level: str = "info"


def config_from_dict(values: dict) -> ServeConfig:
    known = {field.name for field in fields(ServeConfig)}
    return ServeConfig(**{key: value for key, value in values.items() if key in known})


def app_from_environment():
    """The app of one worker process: models and settings from `$SIGNCLIP_HF_SERVE` (see `serve`)."""
    from .app import create_app

    spec = json.loads(os.environ[SERVE_ENV])
    return create_app(dict(spec["models"]), config_from_dict(spec["config"]))


def serve(models: dict[str, str], config: ServeConfig, options: ServerOptions) -> None:
    """Serve `models` (name -> model folder or Hub repo id; the first is the default) until SIGTERM / Ctrl-C."""
    import uvicorn

    settings = dict(
        host=options.host,
        port=options.port,
        timeout_graceful_shutdown=options.graceful_timeout,
        limit_concurrency=options.limit_concurrency,
        log_level=options.log_level,
        server_header=False,
    )
    with _exit_cleanly_on_signals():
        if options.workers > 1:
            os.environ[SERVE_ENV] = json.dumps({"models": models, "config": config.to_dict()})
            # each worker imports torch and loads the models before it answers the supervisor's health pings
            uvicorn.run(FACTORY, factory=True, workers=options.workers, timeout_worker_healthcheck=300, **settings)
            return
        from .app import create_app

        uvicorn.run(create_app(models, config), **settings)


@contextlib.contextmanager
def _exit_cleanly_on_signals():
    """SIGTERM / SIGINT end the process with status 0. uvicorn shuts down gracefully on them, then raises the
    signal again for the handler it found: this one (the default would make the exit status -15)."""

    def stop(signum, frame):
        raise SystemExit(0)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = ["FACTORY", "SERVE_ENV", "ServerOptions", "app_from_environment", "config_from_dict", "serve"]
