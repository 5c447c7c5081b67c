"""The interactive SignCLIP app: `app.py` (standalone Gradio app, also the Hub Space's `app.py`), the
`signclip-hf app` command (`commands/app.py`) and the Space repository pushed next to a model (`stage.py`)."""

from pathlib import Path

APP_FILE = Path(__file__).resolve().parent / "app.py"
