"""Render a .pose file as an animated skeleton (GIF or MP4), optionally drawn over its source video."""

from __future__ import annotations

import argparse

from .. import cli


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pose", metavar="POSE", help="a .pose file")
    cli.add_output(parser, help="animation to write: OUT.gif or OUT.mp4", metavar="FILE")
    parser.add_argument("--video", default=None, metavar="FILE", help="draw over this video (the pose's source)")
    parser.add_argument(
        "--fps", type=float, default=None, metavar="FPS", help="playback rate; the pose's when not given"
    )
    parser.add_argument(
        "--frames", type=cli.positive_int, default=None, metavar="N", help="render only the first N frames"
    )


def run(args: argparse.Namespace) -> int:
    import os
    import struct

    from ..extras import require
    from ..render import load_pose, render_pose

    require("cv2", "video", "opencv-python-headless")  # pose-format's visualizer draws with OpenCV
    if not os.path.isfile(args.pose):
        raise FileNotFoundError(f"{args.pose}: no such file")
    try:
        pose = load_pose(args.pose)
    except (struct.error, IndexError, UnicodeDecodeError) as error:
        raise ValueError(f"{args.pose}: not a readable .pose file ({type(error).__name__}: {error})") from None
    print(render_pose(pose, args.output, fps=args.fps, video=args.video, max_frames=args.frames, name=args.pose))
    return 0
