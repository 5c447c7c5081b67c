"""Preprocessing clips/s, ours vs a straightforward pose-format pipeline (SPEC §1), same run.

Baseline: `Pose.read` -> `get_components` (203 points by name) -> `Pose.normalize` (shoulders) -> hide legs
-> `filled(0)` numpy -> `nan_to_num`, one clip at a time. Ours as a user calls it: the feature extractor on a
list of `--batch-size` clips, returning the padded batch (`pose_values`, `pose_attention_mask`); also the
per-clip `extract` and, as the floor of the straightforward path, `Pose.read` alone. All start from the
file bytes in memory, so disk speed does not enter. Target: >= 5x (batched call), identical features.
"""

from __future__ import annotations

import argparse

import numpy as np
from common import SHARED_DATA, best_time, gesture_files, report
from pose_format import Pose
from pose_format.utils.generic import pose_normalization_info
from signclip_hf.modeling import SignCLIPFeatureExtractor
from signclip_hf.modeling.keypoints_signclip import FACE_CONTOUR_POINTS

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
    parser.add_argument("--batch-size", type=int, default=32, help="clips per feature-extractor call")
    args = parser.parse_args()
    files = gesture_files(args.limit)
    if (SHARED_DATA / "signs").is_dir():
        files += sorted((SHARED_DATA / "signs").glob("*.pose"))
    blobs = [f.read_bytes() for f in files]
    extractor = SignCLIPFeatureExtractor()

    batches = [blobs[i : i + args.batch_size] for i in range(0, len(blobs), args.batch_size)]
    base = [baseline_features(b) for b in blobs]
    padded = [extractor(batch) for batch in batches]
    ours = [values[:length] for out in padded for values, length in zip(out["pose_values"], out["pose_attention_mask"].sum(1))]
    differences = np.array([np.abs(o - b).max() for o, b in zip(ours, base)])
    same = differences <= 1e-5  # both normalize over the frames where both shoulders are seen
    frames = sum(len(o) for o in ours)

    pipelines = [
        ("Pose.read alone (floor of the baseline)", lambda: [Pose.read(b) for b in blobs]),
        ("pose-format pipeline, per clip", lambda: [baseline_features(b) for b in blobs]),
        ("signclip-hf extract, per clip", lambda: [extractor.extract(b) for b in blobs]),
        (f"signclip-hf feature_extractor(list of {args.batch_size}), padded", lambda: [extractor(b) for b in batches]),
    ]
    rows = []
    for name, function in pipelines:
        seconds = best_time(function, repeats=3)
        rows.append({"pipeline": name, "clips/s": len(blobs) / seconds, "frames/s": frames / seconds})
    for row in rows[2:]:
        row["speedup"] = row["clips/s"] / rows[1]["clips/s"]
    report(
        f"preprocessing, {len(blobs)} real clips, {frames} frames",
        rows,
        {
            "speedup": rows[3]["speedup"],
            "speedup_per_clip_extract": rows[2]["speedup"],
            "target_speedup": 5.0,
            "identical_clips": int(same.sum()),
            "differing_clips": int((~same).sum()),
            "max_abs_diff_all": float(differences.max()),
        },
    )


if __name__ == "__main__":
    main()
