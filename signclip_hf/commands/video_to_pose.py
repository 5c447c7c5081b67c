"""Extract MediaPipe Holistic .pose files from a folder of videos, as pose-format's `video_to_pose` does.

Runs in parallel worker processes with a progress bar; finished files are kept and skipped on the next run
(resume). Unreadable videos are listed with their reason in `OUTPUT/video_errors.tsv`; the others go on.
The limits (frame rate, frames, frame size, extraction time) are `VideoConfig`'s, as in the pipeline.
"""

from __future__ import annotations

import argparse

from .. import cli


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", metavar="VIDEOS", help="folder of videos (searched recursively)")
    cli.add_output(parser, help="folder for the .pose files (same relative paths as the videos)", metavar="DIR")
    cli.add_num_proc(parser)
    parser.add_argument(
        "--max-seconds",
        type=cli.positive_float,
        default=None,
        metavar="S",
        help="report videos longer than this as failed (also caps the frames at S x 60 and the time per video)",
    )
    cli.add_ray(parser)


def run(args: argparse.Namespace) -> int:
    from ..video import convert_folder

    if args.ray is not None:  # same files, same errors table, on a Ray actor pool
        from ..cluster.runtime import ray_config_from_args
        from ..cluster.video import convert_folder_ray

        report = convert_folder_ray(args.videos, args.output, ray_config_from_args(args), max_seconds=args.max_seconds)
    else:
        report = convert_folder(args.videos, args.output, num_proc=args.num_proc, max_seconds=args.max_seconds)
    print(report.summary())
    return 1 if report.failed else 0
