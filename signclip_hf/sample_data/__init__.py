"""Real MIT-licensed `.pose` files (and one video) shipped with the package (see README.md here)."""

from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent
GESTURES_DIR = SAMPLE_DIR / "gestures"
HOUSE_POSE = SAMPLE_DIR / "signs" / "house.pose"
FORMATS_DIR = SAMPLE_DIR / "formats"
TEST_VIDEO = SAMPLE_DIR / "videos" / "pose-format-test-video.mp4"  # 58 frames of a real person (pose-format, MIT)
