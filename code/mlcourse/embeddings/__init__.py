"""Word embeddings learnt from co-occurrence (chapter 12.25, with 12.5).

- ``skipgram_data``: the vocabulary, subsampling of frequent words, (center, context) pairs, the noise law.
- ``skipgram``: the skip-gram model with full softmax and negative sampling, and its training loop.
- ``word_vectors``: asking trained vectors questions: nearest neighbours, analogies, similarity tables.
"""
