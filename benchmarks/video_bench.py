"""Video -> MediaPipe Holistic pose, ours vs pose-format's `video_to_pose`, same run.

1. One process: frames/s of `write_pose` vs pose-format's `pose_video` (the function behind the
   `video_to_pose` CLI: PyAV decoding + `load_holistic` + write) on the same video, both warmed up, plus the
   `video_to_pose` CLI end to end. Target: >= 1.0x.
2. A folder of videos with `convert_folder`: 2 worker processes vs 1. Target: >= 1.8x.
3. Peak RSS of extracting a long 720p video (the test video looped, letterboxed to 1280x720), each
   duration in a fresh process: bounded, independent of duration.

    python benchmarks/video_bench.py [--minutes 1 10] [--loops 5] [--folder-videos 4]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from common import report

from signclip_hf.sample_data import TEST_VIDEO


def looped_video(path: Path, frames: int, size: tuple[int, int] | None = None) -> Path:
    """The test video played over and over for `frames` frames (letterboxed to `size` = (width, height))."""
    capture = cv2.VideoCapture(str(TEST_VIDEO))
    fps = capture.get(cv2.CAP_PROP_FPS)
    clip = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if size is not None:
            canvas = np.zeros((size[1], size[0], 3), np.uint8)
            top, left = (size[1] - frame.shape[0]) // 2, (size[0] - frame.shape[1]) // 2
            canvas[top : top + frame.shape[0], left : left + frame.shape[1]] = frame
            frame = canvas
        clip.append(frame)
    capture.release()
    height, width = clip[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for index in range(frames):
        writer.write(clip[index % len(clip)])
    writer.release()
    return path


def single_process(video: Path, work: Path) -> list[dict]:
    from pose_format.bin.pose_estimation import pose_video
    from signclip_hf.modeling.video_signclip import VideoConfig, write_pose

    frames = int(cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT))
    config = VideoConfig(cache_dir=None)
    # both sides warmed up on the short test video: imports and first MediaPipe graph out of the timing
    write_pose(TEST_VIDEO, work / "warm.pose", config)
    pose_video(str(TEST_VIDEO), str(work / "warm-theirs.pose"), "mediapipe", {}, progress=False)
    rows = []
    start = time.perf_counter()
    pose_video(str(video), str(work / "theirs.pose"), "mediapipe", {}, progress=False)
    theirs = time.perf_counter() - start
    start = time.perf_counter()
    write_pose(video, work / "ours.pose", config)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run(
        ["video_to_pose", "--format", "mediapipe", "-i", str(video), "-o", str(work / "cli.pose")],
        check=True, capture_output=True,
    )  # fmt: skip
    cli = time.perf_counter() - start
    identical = (work / "ours.pose").read_bytes() == (work / "cli.pose").read_bytes()
    rows.append({"case": f"video_to_pose CLI (process start included), {frames} frames", "frames_per_s": frames / cli})
    rows.append({"case": "pose-format pose_video in process", "frames_per_s": frames / theirs})
    rows.append({"case": "ours write_pose in process", "frames_per_s": frames / ours, "ratio": theirs / ours,
                 "byte_identical_to_cli": identical})  # fmt: skip
    return rows


def folder(video: Path, copies: int, work: Path) -> list[dict]:
    from signclip_hf.video import convert_folder

    videos = work / "videos"
    videos.mkdir()
    for index in range(copies):
        shutil.copy(video, videos / f"clip{index}.mp4")
    frames = copies * int(cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT))
    rows, seconds = [], {}
    for num_proc in (2, 1):  # 2 first: this process has not loaded MediaPipe yet, so workers fork cheaply
        output = work / f"poses{num_proc}"
        cpu = os.times()
        start = time.perf_counter()
        convert_folder(videos, output, num_proc=num_proc)
        seconds[num_proc] = time.perf_counter() - start
        used = os.times()
        cpu_s = (used.user + used.system + used.children_user + used.children_system) - (
            cpu.user + cpu.system + cpu.children_user + cpu.children_system
        )
        rows.append({"case": f"video-to-pose, {copies} videos, --num-proc {num_proc}", "frames_per_s": frames / seconds[num_proc],
                     "cpu_s_per_wall_s": cpu_s / seconds[num_proc]})  # fmt: skip
    rows[0]["ratio"] = seconds[1] / seconds[2]
    return rows


def peak_rss(minutes: float, work: Path) -> dict:
    """Extract a `minutes`-long 720p video in a fresh process; its peak RSS (VmHWM: `ru_maxrss` would carry
    this process's own peak over into the child through exec)."""
    video = looped_video(work / f"long{minutes:g}.mp4", round(minutes * 60 * 29.92), (1280, 720))
    script = (
        "import time\n"
        "from common import proc_status_mb\n"
        "from signclip_hf.modeling.video_signclip import VideoConfig, write_pose\n"
        "start = time.perf_counter()\n"
        f"write_pose({str(video)!r}, {str(work / 'long.pose')!r}, VideoConfig(cache_dir=None))\n"
        "print(proc_status_mb('VmHWM'), time.perf_counter() - start)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, cwd=Path(__file__).parent)
    rss, seconds = map(float, done.stdout.split()[-2:])
    frames = round(minutes * 60 * 29.92)
    video.unlink()
    return {"case": f"{minutes:g} min 720p video ({frames} frames), fresh process", "peak_rss_mb": rss,
            "frames_per_s": frames / seconds, "pose_mb": (work / "long.pose").stat().st_size / 2**20}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loops", type=int, default=5, help="the single-process video: the test video looped")
    parser.add_argument("--folder-videos", type=int, default=4)
    parser.add_argument("--minutes", type=float, nargs="*", default=[1, 10], help="long-video durations (RSS)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["single", "folder", "rss"])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        video = looped_video(work / "looped.mp4", 58 * args.loops)
        if "folder" not in args.skip:
            (work / "folder").mkdir()
            rows += folder(video, args.folder_videos, work / "folder")
        if "single" not in args.skip:
            (work / "single").mkdir()
            rows += single_process(video, work / "single")
        for minutes in [] if "rss" in args.skip else args.minutes:
            rows.append(peak_rss(minutes, work))
    extra = {"cpus": os.cpu_count(), "load_average": os.getloadavg(), "self_peak_rss_mb":
             resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # fmt: skip
    report("video -> pose (MediaPipe Holistic)", rows, extra)


if __name__ == "__main__":
    main()
