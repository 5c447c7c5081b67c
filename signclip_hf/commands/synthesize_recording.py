"""Make a long recording with known answers: real clips of one signer joined by pauses (for `spot`).

Clips of different glosses are picked from a .pose folder with a metadata.csv (file,label,signer, as for
`build-dataset`) and joined with pauses of missing frames (the person out of view) or of the next clip's first
frame held still, and with `--transition-frames`, transitions: the pose interpolated linearly from one clip's
last frame to the next clip's first, as the hands travel between signs. Writes the .pose (`--output`) and a
ground-truth JSON next to it (same name, .json); the signs' spans there exclude pauses and transitions.
"""

from __future__ import annotations

import argparse

from .. import cli

PAUSES = ("missing", "still")  # spotting.synthetic.PAUSES (checked in the tests)


def _frame_range(text: str) -> tuple[int, int]:
    frames = cli.ints(text)
    if len(frames) != 2 or not 0 <= frames[0] <= frames[1]:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX frame counts with 0 <= MIN <= MAX, got {text!r}")
    return frames


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", metavar="ROOT", help="folder of .pose clips with metadata.csv (file,label,signer)")
    parser.add_argument("--signer", required=True, metavar="NAME", help="the signer whose clips are joined")
    parser.add_argument("--signs", type=cli.positive_int, default=12, metavar="N", help="clips to concatenate")
    parser.add_argument(
        "--pause",
        choices=PAUSES,
        default="missing",
        help="pause frames: missing (out of view) or a frame held still",
    )
    parser.add_argument(
        "--pause-frames", type=_frame_range, default=(5, 15), metavar="MIN,MAX", help="pause length range in frames"
    )
    parser.add_argument(
        "--transition-frames", type=_frame_range, default=(0, 0), metavar="MIN,MAX",
        help="frames of linear movement from one clip's last pose to the next clip's first (0,0: none)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the clip choice and the pauses")
    cli.add_output(parser, help=".pose file to write (the ground truth goes next to it, .json)", metavar="FILE")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..spotting.synthetic import make_recording

    truth = make_recording(
        args.root, args.signer, args.output, args.signs, tuple(args.pause_frames), args.pause, args.seed,
        tuple(args.transition_frames),
    )
    print(
        f"{args.output}: {len(truth['signs'])} signs, {truth['frames']} frames; truth in {Path(args.output).with_suffix('.json')}"
    )
    return 0
