"""`signclip-hf search INDEX_DIR (--text TEXT... | --pose FILE...) [--model MODEL] [--top-k 10] [--json OUT]`:
ranked clips with labels and scores, as a table and optionally JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .index import METADATA_FILE, SignIndex


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("index", help="index directory (signclip-hf index)")
    query = parser.add_mutually_exclusive_group(required=True)
    query.add_argument("--text", nargs="+", help="one or more texts, e.g. house, or full prompts '<en> <ase> house'")
    query.add_argument("--pose", nargs="+", help="one or more .pose files")
    parser.add_argument("--model", default=None, help="SignCLIP model directory (default: the one the index records)")
    parser.add_argument("--spoken-language", default="en", help="tag for plain --text queries")
    parser.add_argument("--sign-language", default="ase", help="tag for plain --text queries")
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--json", default=None, help="write the ranked matches as JSON here")


def run(args: argparse.Namespace) -> int:
    from transformers import AutoModel, AutoProcessor

    from ..loading import resolve_model as check_model_path

    model_name = args.model
    if model_name is None:
        metadata = Path(args.index) / METADATA_FILE
        if not metadata.is_file():
            raise FileNotFoundError(f"{args.index}: not a SignCLIP index (no {METADATA_FILE})")
        model_name = json.loads(metadata.read_text())["model"]
    model_name = check_model_path(model_name)
    model = AutoModel.from_pretrained(model_name).eval()
    processor = AutoProcessor.from_pretrained(model_name)
    index = SignIndex.load(args.index, model, processor, model_name=model_name)
    if args.text:
        result = index.search_text(args.text, args.top_k, args.spoken_language, args.sign_language)
    else:
        result = index.search_pose(args.pose, args.top_k)
    print(result.format_table((index.metadata.label_column, index.metadata.text_column, "file")))
    if args.json:
        payload = {"index": args.index, "model": model_name, "top_k": args.top_k, **result.to_dict()}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(payload, indent=2))
        print(f"wrote {args.json}")
    return 0
