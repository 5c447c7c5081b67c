"""Files pushed next to a model for Hugging Face Inference Endpoints: `handler.py` and `requirements.txt`."""

from pathlib import Path

ENDPOINT_DIR = Path(__file__).resolve().parent
HANDLER_FILE = ENDPOINT_DIR / "handler.py"
REQUIREMENTS_FILE = ENDPOINT_DIR / "requirements.txt"
