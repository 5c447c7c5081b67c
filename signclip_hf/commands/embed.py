"""Embed a pose dataset's clips (and optionally their prompts) into Parquet, on one machine or on Ray.

Clips are batched by length; each Parquet row holds its row id (`split`, `row`), `file` and the float32
`pose_embedding` (+ `prompt`, `text_embedding` with `--prompts`). `signclip-hf index --embeddings` builds an
index from the folder without re-embedding; a run into the same `--output` resumes from its finished parts.
"""

from __future__ import annotations

import argparse

from .. import cli


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_model(parser)
    cli.add_dataset(parser)
    cli.add_output(parser, help="folder (local or fsspec URL) for the Parquet parts", metavar="EMBEDDINGS")
    parser.add_argument(
        "--split", default=None, metavar="NAME", help="embed this split only; every split when not given"
    )
    parser.add_argument("--prompts", action="store_true", help="also embed each row's prompt with the text tower")
    parser.add_argument("--text-column", default="text", metavar="NAME", help="dataset column of the prompt texts")
    cli.add_batch_size(parser)
    parser.add_argument(
        "--rows-per-part", type=cli.positive_int, default=1024, metavar="N",
        help="clips per Parquet file (the unit of work and of resuming)",
    )  # fmt: skip
    cli.add_ray(parser)


def run(args: argparse.Namespace) -> int:
    import time

    from ..cluster.embed import EmbedConfig, embed
    from ..cluster.runtime import ray_config_from_args

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    started = time.perf_counter()
    config = EmbedConfig(
        batch_size=args.batch_size, rows_per_part=args.rows_per_part, prompts=args.prompts,
        text_column=args.text_column, split=args.split,
    )  # fmt: skip
    manifest = embed(args.model, args.dataset, args.output, config, ray_config_from_args(args))
    print(
        f"embedded {manifest['num_rows']} clips ({manifest['embed_dim']}-d, {len(manifest['parts'])} Parquet parts) "
        f"in {time.perf_counter() - started:.1f} s -> {args.output}"
    )
    return 0
