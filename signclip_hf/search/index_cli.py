"""`signclip-hf index MODEL DATASET --output INDEX_DIR [--kind exact|ivf|hnsw]`: embed a pose dataset once
(the embedding cache is reused) and save an inner-product FAISS index over it, with its metadata."""

from __future__ import annotations

import argparse
import time

from .index import KINDS, IndexConfig, SignIndex


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = IndexConfig()
    parser.add_argument("model", help="SignCLIP model directory (AutoModel + AutoProcessor)")
    parser.add_argument("dataset", help="saved dataset directory (signclip-hf build-dataset)")
    parser.add_argument("--output", required=True, help="index directory to write")
    parser.add_argument("--kind", choices=KINDS, default=defaults.kind, help="exact, IVF or HNSW (inner product)")
    parser.add_argument("--split", default=None, help="index one split (default: every split of the dataset)")
    parser.add_argument("--nlist", type=int, default=None, help="IVF lists (default about 4*sqrt(N))")
    parser.add_argument("--nprobe", type=int, default=defaults.nprobe, help="IVF lists searched per query")
    parser.add_argument("--hnsw-m", type=int, default=defaults.hnsw_m, help="HNSW graph degree")
    parser.add_argument("--ef-construction", type=int, default=defaults.ef_construction)
    parser.add_argument("--ef-search", type=int, default=defaults.ef_search, help="HNSW search beam width")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--batch-size", type=int, default=32)


def run(args: argparse.Namespace) -> int:
    from transformers import AutoModel, AutoProcessor

    from ..data.build import load_saved
    from ..loading import resolve_model as check_model_path

    started = time.perf_counter()
    config = IndexConfig(
        kind=args.kind,
        nlist=args.nlist,
        nprobe=args.nprobe,
        hnsw_m=args.hnsw_m,
        ef_construction=args.ef_construction,
        ef_search=args.ef_search,
    )
    model_path = check_model_path(args.model)
    model = AutoModel.from_pretrained(model_path).eval()
    processor = AutoProcessor.from_pretrained(model_path)
    index = SignIndex.build(
        model,
        processor,
        load_saved(args.dataset),
        config,
        model_name=args.model,
        split=args.split,
        label_column=args.label_column,
        text_column=args.text_column,
        batch_size=args.batch_size,
        dataset_name=args.dataset,
    )
    index.save(args.output)
    meta = index.metadata
    print(
        f"indexed {meta.num_items} clips ({meta.config['kind']}, {meta.embed_dim}-d, {meta.score_type} score) "
        f"in {time.perf_counter() - started:.1f} s -> {args.output}"
    )
    return 0
