"""Dictionary-scale search: a saved FAISS index over a pose dataset's SignCLIP embeddings (`faiss-cpu`, the
`index` extra), queried by text or by clip (`signclip-hf index` / `signclip-hf search`)."""

from .index import IndexConfig, IndexMetadata, IndexSearchResult, SignIndex, StaleIndexError

__all__ = ["IndexConfig", "IndexMetadata", "IndexSearchResult", "SignIndex", "StaleIndexError"]
