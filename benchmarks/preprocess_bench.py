"""Issue 7.1: preprocessing clips/s, ours vs a straightforward pose-format pipeline (SPEC §1), same run.

Baseline: `Pose.read` -> `get_components` (203 points by name) -> `Pose.normalize` (shoulders) -> hide legs
-> `filled(0)` numpy -> `nan_to_num`. Ours: `SignCLIPFeatureExtractor.extract`. Both start from the file
bytes in memory, so disk speed does not enter. Target: >= 5x, identical features.
"""

from __future__ import annotations

import argparse

import numpy as np
from pose_format import Pose
from pose_format.utils.generic import pose_normalization_info

from common import SHARED_DATA, best_time, gesture_files, report
from signclip_hf.modeling import SignCLIPFeatureExtractor
from signclip_hf.modeling.feature_extraction_signclip import FACE_CONTOUR_POINTS

COMPONENTS = ["POSE_LANDMARKS", "FACE_LANDMARKS", "LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS"]


def baseline_features(data: bytes) -> np.ndarray:
    pose = Pose.read(data)
    pose = pose.get_components(COMPONENTS, {"FACE_LANDMARKS": list(FACE_CONTOUR_POINTS)})
    pose = pose.normalize(pose_normalization_info(pose.header))
    array = pose.body.data.filled(0)[:, 0].copy()
    array[:, 25:33] = 0
    return np.nan_to_num(array).reshape(len(array), -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="number of gesture clips (default: all)")
    args = parser.parse_args()
    files = gesture_files(args.limit)
    if (SHARED_DATA / "signs").is_dir():
        files += sorted((SHARED_DATA / "signs").glob("*.pose"))
    blobs = [f.read_bytes() for f in files]
    extractor = SignCLIPFeatureExtractor()

    ours = [extractor.extract(b) for b in blobs]
    base = [baseline_features(b) for b in blobs]
    differences = np.array([np.abs(o - b).max() for o, b in zip(ours, base)])
    same = differences <= 1e-5  # both normalize over the frames where both shoulders are seen
    frames = sum(len(o) for o in ours)

    rows = []
    for name, function in [("pose-format pipeline", baseline_features), ("signclip-hf", extractor.extract)]:
        seconds = best_time(lambda: [function(b) for b in blobs], repeats=3)
        rows.append({"pipeline": name, "clips/s": len(blobs) / seconds, "frames/s": frames / seconds})
    speedup = rows[1]["clips/s"] / rows[0]["clips/s"]
    rows[1]["speedup"] = speedup
    report(
        f"preprocessing, {len(blobs)} real clips, {frames} frames",
        rows,
        {
            "speedup": speedup,
            "target_speedup": 5.0,
            "identical_clips": int(same.sum()),
            "differing_clips": int((~same).sum()),
            "max_abs_diff_identical": float(differences[same].max()),
            "max_abs_diff_all": float(differences.max()),
        },
    )


if __name__ == "__main__":
    main()
