"""Pose datasets: `.pose` folders -> `datasets`, augmentation, batching."""

from .collate import SignCLIPCollator, prompt_for_row

__all__ = ["SignCLIPCollator", "prompt_for_row"]
