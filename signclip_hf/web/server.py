"""Serve a SignCLIP web page folder on this machine: the standard library only, so that running this file
(`python signclip_hf/web/server.py SITE [PORT]`) starts at once, without importing torch or transformers."""

from __future__ import annotations

import functools
import http.server
import json
import os
import sys
from pathlib import Path
from typing import ClassVar

SITE_FORMAT = "signclip-web"
SITE_MANIFEST = "site.json"  # the marker of a folder `build_site` wrote


def is_site(folder: str | os.PathLike) -> bool:
    """Whether `folder` holds a page written by `build_site`."""
    try:
        return json.loads((Path(folder) / SITE_MANIFEST).read_text()).get("format") == SITE_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with the headers that let onnxruntime-web use threads (cross-origin isolation), quietly."""

    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
        ".onnx": "application/octet-stream",
    }

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format, *args):
        pass


def make_server(site: str | os.PathLike, host: str = "127.0.0.1", port: int = 8000) -> http.server.ThreadingHTTPServer:
    """An HTTP server for the site folder (call `serve_forever`); port 0 picks a free one."""
    site = Path(site)
    if not is_site(site):
        raise OSError(f"{site}: not a SignCLIP web page (no {SITE_MANIFEST}); write one with `signclip-hf web`")
    handler = functools.partial(_SiteHandler, directory=str(site))
    return http.server.ThreadingHTTPServer((host, port), handler)


def main(argv: list[str] | None = None) -> None:
    """`python signclip_hf/web/server.py SITE [PORT]`: serve a built site on 127.0.0.1 (tests, benchmarks)."""
    argv = sys.argv[1:] if argv is None else argv
    server = make_server(argv[0], port=int(argv[1]) if len(argv) > 1 else 8000)
    with server:
        server.serve_forever()


if __name__ == "__main__":
    main()
