"""Build a pose dataset (Arrow, `datasets`) from a folder of .pose files (or videos) and a metadata CSV.

Bad files are skipped and reported with their reason, never aborting the build; an interrupted build into
the same `--output` resumes. With `--push-to-hub` the dataset is also pushed with a dataset card.
"""

from __future__ import annotations

import argparse

from .. import cli

# the choices, spelled here so that `--help` needs no library import (checked against data/build.py in the tests)
ON_DUPLICATE = ("warn", "skip", "error")
ON_EMPTY_LABEL = ("skip", "error")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", metavar="ROOT", help="folder of .pose files or videos (CSV paths are relative to it)")
    parser.add_argument(
        "--metadata", default="metadata.csv", metavar="CSV", help="metadata CSV, relative to ROOT unless absolute"
    )
    cli.add_output(parser, help="folder for the saved dataset", metavar="DIR")
    parser.add_argument("--file-column", default="file", metavar="NAME", help="CSV column of the file paths")
    parser.add_argument("--label-column", default="label", metavar="NAME", help="CSV column of the class labels")
    parser.add_argument(
        "--text-column",
        default=None,
        metavar="NAME",
        help="CSV column of the prompt text; the label column when not given",
    )
    parser.add_argument(
        "--split-column",
        default="split",
        metavar="NAME",
        help="CSV column of the splits, kept as `split` when the CSV has it",
    )
    parser.add_argument(
        "--signer-split", type=float, default=None, metavar="FRACTION",
        help="without a split column: hold out whole signers as a `test` split of about this fraction of the clips",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the signer split")
    parser.add_argument(
        "--keypoint-layout", default="holistic", metavar="NAME",
        help="keypoints stored: a name in signclip_hf.modeling.KEYPOINT_LAYOUTS (e.g. right_hand)",
    )  # fmt: skip
    parser.add_argument(
        "--sign-language", default="ase", metavar="CODE", help="ISO 639-3 tag for rows without a sign_language column"
    )
    parser.add_argument(
        "--spoken-language",
        default="en",
        metavar="CODE",
        help="ISO 639-1 tag for rows without a spoken_language column",
    )
    cli.add_num_proc(parser)
    parser.add_argument(
        "--shard-rows",
        type=cli.positive_int,
        default=1000,
        metavar="N",
        help="clips per Arrow file (the unit of resuming)",
    )
    parser.add_argument(
        "--allow-outside-root", action="store_true", help="read CSV paths that are absolute or leave ROOT with ../"
    )
    parser.add_argument(
        "--on-duplicate", choices=ON_DUPLICATE, default="warn",
        help="a file the CSV lists again: store it again and report it (warn), keep the first row (skip) or stop",
    )  # fmt: skip
    parser.add_argument(
        "--on-empty-label", choices=ON_EMPTY_LABEL, default="skip",
        help="a row with an empty label or text: leave it out and report it (skip), or stop (error)",
    )  # fmt: skip
    parser.add_argument(
        "--push-to-hub", metavar="REPO_ID", default=None, help="also push it to this Hub dataset repo, with a card"
    )
    parser.add_argument(
        "--license", default="other", metavar="ID", help="licence of the dataset card (with --push-to-hub)"
    )
    cli.add_ray(parser)


def run(args: argparse.Namespace) -> int:
    from ..data.build import BuildConfig, build_dataset
    from ..data.hub import DatasetCardConfig, push_pose_dataset

    config = BuildConfig(
        file_column=args.file_column,
        label_column=args.label_column,
        text_column=args.text_column,
        split_column=args.split_column,
        signer_split=args.signer_split,
        seed=args.seed,
        keypoint_layout=args.keypoint_layout,
        sign_language=args.sign_language,
        spoken_language=args.spoken_language,
        num_proc=args.num_proc,
        shard_rows=args.shard_rows,
        allow_outside_root=args.allow_outside_root,
        on_duplicate=args.on_duplicate,
        on_empty_label=args.on_empty_label,
    )
    if args.ray is not None:  # the same shards, written by a Ray actor pool
        from ..cluster.build import build_dataset_ray
        from ..cluster.runtime import ray_config_from_args

        dataset, report = build_dataset_ray(args.root, args.metadata, args.output, config, ray_config_from_args(args))
    else:
        dataset, report = build_dataset(args.root, args.metadata, args.output, config)
    print(report.summary())
    if args.push_to_hub and report.stored > 0:
        push_pose_dataset(
            dataset,
            args.push_to_hub,
            DatasetCardConfig(license=args.license, keypoint_layout=args.keypoint_layout),
            report,
        )
        print(f"pushed to {args.push_to_hub}")
    return 0 if report.stored > 0 else 1
