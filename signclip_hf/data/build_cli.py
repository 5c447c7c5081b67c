"""`signclip-hf build-dataset`: build a pose dataset (build.py), then optionally push it to the Hub (hub.py)."""

from __future__ import annotations

import argparse

from ..modeling import KEYPOINT_LAYOUTS
from .build import ON_DUPLICATE, ON_EMPTY_LABEL, build_dataset
from .hub import DatasetCardConfig, push_pose_dataset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", help="folder of .pose files (paths in the CSV are relative to it)")
    parser.add_argument("--metadata", default="metadata.csv", help="CSV, relative to ROOT unless absolute")
    parser.add_argument("--output", required=True, help="directory for the saved dataset")
    parser.add_argument("--file-column", default="file")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--text-column", default=None, help="text of the prompt (default: the label column)")
    parser.add_argument("--split-column", default="split", help="kept as `split` when the CSV has it")
    parser.add_argument(
        "--signer-split", type=float, default=None, metavar="FRACTION",
        help="without a split column: hold out whole signers as a `test` split of about this fraction",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keypoint-layout", default="holistic", choices=sorted(KEYPOINT_LAYOUTS))
    parser.add_argument("--sign-language", default="ase", help="for rows without a sign_language column")
    parser.add_argument("--spoken-language", default="en", help="for rows without a spoken_language column")
    parser.add_argument("--num-proc", type=int, default=1)
    parser.add_argument("--shard-rows", type=int, default=1000, help="clips per Arrow file (the unit of resuming)")
    parser.add_argument(
        "--allow-outside-root", action="store_true", help="read CSV paths that are absolute or leave ROOT with ../"
    )
    parser.add_argument(
        "--on-duplicate", choices=ON_DUPLICATE, default="warn",
        help="a file the CSV lists again: store it again and report it (warn), keep the first row (skip) or stop",
    )
    parser.add_argument(
        "--on-empty-label", choices=ON_EMPTY_LABEL, default="skip",
        help="a row with an empty label or text: leave it out and report it (skip), or stop (error)",
    )
    parser.add_argument("--push-to-hub", metavar="REPO_ID", default=None, help="also push it with a dataset card")
    parser.add_argument("--license", default="other", help="licence for the dataset card (with --push-to-hub)")


def run(args: argparse.Namespace) -> int:
    dataset, report = build_dataset(
        args.root,
        metadata=args.metadata,
        output=args.output,
        file_column=args.file_column,
        text_column=args.text_column,
        label_column=args.label_column,
        keypoint_layout=args.keypoint_layout,
        num_proc=args.num_proc,
        split_column=args.split_column,
        signer_split=args.signer_split,
        seed=args.seed,
        sign_language=args.sign_language,
        spoken_language=args.spoken_language,
        shard_rows=args.shard_rows,
        allow_outside_root=args.allow_outside_root,
        on_duplicate=args.on_duplicate,
        on_empty_label=args.on_empty_label,
    )
    print(report.summary())
    if args.push_to_hub and report.stored > 0:
        card = DatasetCardConfig(license=args.license, keypoint_layout=args.keypoint_layout)
        push_pose_dataset(dataset, args.push_to_hub, card, report)
        print(f"pushed to {args.push_to_hub}")
    return 0 if report.stored > 0 else 1
