"""Search a saved index (`signclip-hf index`) by text or by .pose clip: ranked clips with labels and scores.

Prints a table per query and, with `--output`, writes the ranked matches as JSON. The model is the one the
index records unless MODEL is given (an index built with other weights is refused).
"""

from __future__ import annotations

import argparse

from .. import cli


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("index", metavar="INDEX_DIR", help="index folder written by `signclip-hf index`")
    cli.add_model(
        parser, optional=True, help="SignCLIP model (local directory or Hub repo id); the index's own when not given"
    )
    queries = parser.add_mutually_exclusive_group(required=True)
    cli.add_query(
        queries,
        required=False,
        help="text to look for, e.g. house, or a full prompt '<en> <ase> house'; repeat for several",
    )
    cli.add_repeatable(queries, "--pose", "FILE", help="a .pose clip to look for similar clips of; repeat for several")
    cli.add_languages(parser)
    cli.add_top_k(parser, help="matches per query (0: every clip)")
    cli.add_output(parser, help="also write the ranked matches as JSON here", required=False)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ..loading import load_model
    from ..search.index import SignIndex, read_metadata, resolve_model_path, text_queries
    from ..spotting.outputs import check_output_paths

    check_output_paths(  # before any work: the JSON may not overwrite the index or a query clip
        {"--output": args.output},
        {"INDEX_DIR": args.index, **{f"--pose {i + 1}": path for i, path in enumerate(args.pose or ())}},
    )
    if args.top_k < 0:
        raise ValueError(f"top-k must be >= 0 (0: every clip), got {args.top_k}")
    if args.query:
        text_queries(args.query)  # bad text fails before anything is loaded
    metadata = read_metadata(args.index)  # a damaged index fails before a model is loaded
    model_name = args.model or resolve_model_path(metadata, args.index)
    model, processor = load_model(model_name)
    index = SignIndex.load(args.index, model, processor, model_name=model_name)
    top_k = args.top_k or None
    if args.query:
        result = index.search_text(args.query, top_k, args.spoken_language, args.sign_language)
    else:
        result = index.search_pose(args.pose, top_k)
    print(result.format_table((index.metadata.label_column, index.metadata.text_column, "file")))
    if args.output:
        payload = {"index": args.index, "model": model_name, "top_k": args.top_k, **result.to_dict()}
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(payload, indent=2))
        print(f"wrote {args.output}")
    return 0
