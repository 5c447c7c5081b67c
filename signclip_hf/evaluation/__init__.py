"""Evaluation: embedding cache, the paper's protocols (SPEC §4), plots, and the evaluate CLI."""

from .cli import TASKS, format_table, run_evaluation
from .embed import EMBEDDING_COLUMN, SearchResult, embed_dataset, embed_poses, embed_texts, embeddings_of, search
from .plots import plot_confusion_matrix, plot_dataset_embeddings, plot_embedding_space
from .protocols import (
    ClassificationResult,
    FewShotResult,
    RetrievalResult,
    class_prompts,
    few_shot,
    linear_probe,
    retrieval,
    zero_shot,
)
from .score import SignCLIPScore, signclip_score

__all__ = [
    "EMBEDDING_COLUMN",
    "TASKS",
    "ClassificationResult",
    "FewShotResult",
    "RetrievalResult",
    "SearchResult",
    "SignCLIPScore",
    "class_prompts",
    "embed_dataset",
    "embed_poses",
    "embed_texts",
    "embeddings_of",
    "few_shot",
    "format_table",
    "linear_probe",
    "plot_confusion_matrix",
    "plot_dataset_embeddings",
    "plot_embedding_space",
    "retrieval",
    "run_evaluation",
    "search",
    "signclip_score",
    "zero_shot",
]
