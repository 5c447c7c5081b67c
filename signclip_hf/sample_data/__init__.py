"""Real MIT-licensed `.pose` files shipped with the package (see README.md here)."""

from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent
GESTURES_DIR = SAMPLE_DIR / "gestures"
HOUSE_POSE = SAMPLE_DIR / "signs" / "house.pose"
FORMATS_DIR = SAMPLE_DIR / "formats"
