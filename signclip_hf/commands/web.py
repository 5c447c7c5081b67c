"""Write a static web page that recognizes a dropped .pose file in the browser (features, pose graph, ranking).

EXPORTED_DIR is a `signclip-hf export ... --vocabulary glosses.txt` folder. The page computes the features in
JavaScript (the same numbers as the Python feature extractor), runs the pose graph with onnxruntime-web (wasm) and
ranks the vocabulary's glosses; nothing leaves the browser. onnxruntime-web is installed with npm on first use.
"""

from __future__ import annotations

import argparse

from .. import cli


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "exported", metavar="EXPORTED_DIR", help="an exported folder (`signclip-hf export`) with a vocabulary"
    )
    cli.add_output(
        parser, help="site folder to write (new, empty, or a page written before); EXPORTED_DIR-web when not given",
        required=False, metavar="SITE_DIR",
    )  # fmt: skip
    parser.add_argument(
        "--precision", choices=("fp32", "int8"), default="fp32", help="which of the export's pose graphs the page runs"
    )
    parser.add_argument(
        "--model-url", default=None, metavar="URL",
        help="load the manifest, graph and vocabulary from this URL (e.g. a Hub model repo's .../resolve/main/) "
        "instead of copying them into the site",
    )  # fmt: skip
    cli.add_top_k(parser, help="glosses shown")
    parser.add_argument(
        "--runtime", default=None, metavar="NODE_MODULES",
        help="a node_modules folder with onnxruntime-web; installed with npm when not given",
    )  # fmt: skip
    parser.add_argument(
        "--vocabulary-only", action="store_true",
        help="leave the text graph and tokenizer out: the page ranks the export's vocabulary only (a smaller site)",
    )  # fmt: skip
    parser.add_argument("--serve", action="store_true", help="then serve the site on 127.0.0.1 until interrupted")
    parser.add_argument("--port", type=cli.positive_int, default=8000, metavar="PORT", help="port to serve on")


def run(args: argparse.Namespace) -> int:
    import os

    from ..web.site import SiteConfig, build_site, make_server

    output = args.output or f"{os.path.normpath(args.exported)}-web"
    config = SiteConfig(
        precision=args.precision, model_url=args.model_url, top_k=args.top_k, free_text=not args.vocabulary_only
    )
    print(build_site(args.exported, output, config, runtime=args.runtime))
    if args.serve:
        server = make_server(output, port=args.port)
        print(f"serving on http://127.0.0.1:{server.server_address[1]}/ (Ctrl+C stops)", flush=True)
        with server:
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                pass
    return 0
