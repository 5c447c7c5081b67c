"""`signclip-hf serve`: the original SignCLIP HTTP API (fairseq `examples/MMPT/app.py`) on FastAPI + uvicorn.

`create_app(models, ServeConfig())` builds the ASGI app (dynamic batching per model and tower, limits, optional
API key, CORS); `serve(models, config, ServerOptions())` runs it under uvicorn. `ServeConfig` is importable
without FastAPI; the rest is loaded on first use (needs `pip install "signclip-hf[serve]"`).
"""

from __future__ import annotations

from .config import API_KEY_ENV, ServeConfig

_LAZY = {
    "create_app": "app",
    "ServedModel": "app",
    "load_served_models": "app",
    "TowerBatcher": "batching",
    "ServerOptions": "server",
    "serve": "server",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["API_KEY_ENV", "ServeConfig", *_LAZY]
