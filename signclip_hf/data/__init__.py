"""Pose datasets: `.pose` folders -> `datasets`, splits, augmentation, batching, and the Hub.

Loading a dataset (a built folder or a Hub id) is `signclip_hf.loading.load_dataset`; `load_saved` and
`load_pose_dataset` (numpy format) are that loader.
"""

from .augment import AugmentationConfig, PoseAugmentation
from .build import BuildConfig, build_dataset, dataset_features, is_complete_build, load_saved
from .collate import SignCLIPCollator, dataset_prompts, prompt_for_row
from .hub import DatasetCardConfig, load_pose_dataset, push_pose_dataset, render_dataset_card
from .labels import class_ids, class_prompts, known_labels_only
from .report import BuildReport, SkippedFile
from .rows import PoseRows, column_values
from .sampler import LengthGroupedBatchSampler, LengthGroupedSampler, padding_waste
from .splits import assign_signers, load_splits, signer_independent_split, split_by_column

__all__ = [
    "AugmentationConfig",
    "BuildConfig",
    "BuildReport",
    "DatasetCardConfig",
    "LengthGroupedBatchSampler",
    "LengthGroupedSampler",
    "PoseAugmentation",
    "PoseRows",
    "SignCLIPCollator",
    "SkippedFile",
    "assign_signers",
    "build_dataset",
    "class_ids",
    "class_prompts",
    "column_values",
    "dataset_features",
    "dataset_prompts",
    "is_complete_build",
    "known_labels_only",
    "load_pose_dataset",
    "load_saved",
    "load_splits",
    "padding_waste",
    "prompt_for_row",
    "push_pose_dataset",
    "render_dataset_card",
    "signer_independent_split",
    "split_by_column",
]
