"""Build a FAISS search index over a pose dataset's embeddings.

Each clip is embedded once (the embedding cache is reused) and an inner-product index (exact, IVF or HNSW)
is saved to `--output` with its metadata; `signclip-hf search` looks it up.
"""

from __future__ import annotations

import argparse

from .. import cli

KINDS = ("exact", "ivf", "hnsw")  # search.index.KINDS (checked in the tests)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_model(parser)
    cli.add_dataset(parser)
    cli.add_output(parser, help="index folder to write", metavar="INDEX_DIR")
    parser.add_argument("--kind", choices=KINDS, default="exact", help="exact, IVF or HNSW inner-product index")
    parser.add_argument(
        "--split", default=None, metavar="NAME", help="index this split only; every split when not given"
    )
    parser.add_argument(
        "--nlist",
        type=cli.positive_int,
        default=None,
        metavar="N",
        help="IVF lists; about 4*sqrt(clips) when not given",
    )
    parser.add_argument("--nprobe", type=cli.positive_int, default=16, metavar="N", help="IVF lists searched per query")
    parser.add_argument("--hnsw-m", type=cli.positive_int, default=32, metavar="N", help="HNSW graph degree")
    parser.add_argument(
        "--ef-construction", type=cli.positive_int, default=80, metavar="N", help="HNSW build beam width"
    )
    parser.add_argument("--ef-search", type=cli.positive_int, default=128, metavar="N", help="HNSW search beam width")
    parser.add_argument("--label-column", default="label", metavar="NAME", help="dataset column of the class labels")
    parser.add_argument("--text-column", default="text", metavar="NAME", help="dataset column of the prompt texts")
    cli.add_batch_size(parser)
    parser.add_argument(
        "--embeddings", default=None, metavar="EMBEDDINGS",
        help="build from this `signclip-hf embed` Parquet folder (same model and dataset) without re-embedding",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import time

    from ..loading import load_dataset, load_model
    from ..search.index import IndexConfig, SignIndex

    started = time.perf_counter()
    config = IndexConfig(kind=args.kind, nlist=args.nlist, nprobe=args.nprobe, hnsw_m=args.hnsw_m,
                         ef_construction=args.ef_construction, ef_search=args.ef_search)  # fmt: skip
    dataset = load_dataset(args.dataset)
    model, processor = load_model(args.model)
    embedded = None
    if args.embeddings is not None:  # the pose tower already ran (`embed`, maybe on Ray): read its vectors
        from ..cluster.embed import gallery_parts_with_embeddings

        embedded = gallery_parts_with_embeddings(args.embeddings, model, processor, dataset, args.split)
    index = SignIndex.build(
        model, processor, dataset, config, model_name=args.model, split=args.split, label_column=args.label_column,
        text_column=args.text_column, batch_size=args.batch_size, dataset_name=args.dataset, embedded=embedded,
    )  # fmt: skip
    index.save(args.output)
    meta = index.metadata
    print(
        f"indexed {meta.num_items} clips ({meta.config['kind']}, {meta.embed_dim}-d, {meta.score_type} score) "
        f"in {time.perf_counter() - started:.1f} s -> {args.output}"
    )
    return 0
