"""Evaluation: embedding cache, the paper's protocols on embeddings, running them on datasets, plots."""

from ..embedding import EMBEDDING_COLUMN, SearchResult, embed_dataset, embed_poses, embed_texts, embeddings_of, search
from .plots import plot_confusion_matrix, plot_dataset_embeddings, plot_embedding_space
from .protocols import (
    ClassificationResult,
    FewShotResult,
    RetrievalResult,
    few_shot_on_embeddings,
    linear_probe_on_embeddings,
    retrieval_on_embeddings,
    zero_shot_on_embeddings,
)
from .run import (
    PROTOCOLS,
    TASKS,
    EvaluationConfig,
    Protocol,
    few_shot,
    format_table,
    linear_probe,
    retrieval,
    run_evaluation,
    zero_shot,
)
from .score import SignCLIPScore, signclip_score

__all__ = [
    "EMBEDDING_COLUMN",
    "PROTOCOLS",
    "TASKS",
    "ClassificationResult",
    "EvaluationConfig",
    "FewShotResult",
    "Protocol",
    "RetrievalResult",
    "SearchResult",
    "SignCLIPScore",
    "embed_dataset",
    "embed_poses",
    "embed_texts",
    "embeddings_of",
    "few_shot",
    "few_shot_on_embeddings",
    "format_table",
    "linear_probe",
    "linear_probe_on_embeddings",
    "plot_confusion_matrix",
    "plot_dataset_embeddings",
    "plot_embedding_space",
    "retrieval",
    "retrieval_on_embeddings",
    "run_evaluation",
    "search",
    "signclip_score",
    "zero_shot",
    "zero_shot_on_embeddings",
]
