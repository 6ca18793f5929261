import numpy as np

from aieng import embeddings


def test_embeddings_are_unit_vectors_and_similar_texts_are_close():
    vectors = embeddings.embed(["I was charged twice this month", "Double charge on my card", "My bank feed stopped syncing"])
    assert vectors.shape == (3, embeddings.DIMENSIONS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_chroma_embedding_function_uses_the_bundled_model():
    function = embeddings.chroma_embedding_function()
    vectors = function(["refund please"])
    assert len(vectors) == 1 and len(vectors[0]) == embeddings.DIMENSIONS
