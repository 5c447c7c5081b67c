"""Jinja templates of the model and dataset cards (installed as `signclip_hf.hub_cards`)."""

from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent
