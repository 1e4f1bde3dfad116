"""Asking trained word vectors questions: nearest neighbours, analogies, a Shakespearean analogy set, PCA.

Everything works on a plain (V, d) tensor of vectors and a list of V words, so the same functions score our
skip-gram, gensim's Word2Vec or random vectors. Similarity is cosine: vectors are compared after scaling to
unit length. ``analogy`` answers "a is to b as c is to ?" with the word nearest to ``b - a + c``
(3CosAdd), never one of a, b, c themselves.

What it does not do: train vectors (``mlcourse.embeddings.skipgram``) or t-SNE (use scikit-learn's ``TSNE``).

Taught in chapter 12.25 (Embeddings and representation learning, with 12.5).
"""

from __future__ import annotations

from itertools import permutations
from typing import Sequence

import numpy as np
import torch

# Pairs (x, y) of one relation, in Shakespeare's own vocabulary. A question takes two pairs of a category:
# x1 : y1 :: x2 : ?  (answer y2).
ANALOGY_PAIRS: dict[str, list[tuple[str, str]]] = {
    "gender": [("king", "queen"), ("lord", "lady"), ("he", "she"), ("him", "her"), ("man", "woman"),
               ("father", "mother"), ("son", "daughter"), ("brother", "sister"), ("husband", "wife"),
               ("boy", "girl"), ("uncle", "aunt"), ("duke", "duchess"), ("prince", "princess"),
               ("sir", "madam"), ("master", "mistress"), ("gentleman", "gentlewoman"), ("men", "women"),
               ("sons", "daughters"), ("lords", "ladies"), ("kings", "queens")],
    "subject-object": [("i", "me"), ("thou", "thee"), ("he", "him"), ("she", "her"), ("we", "us"),
                       ("they", "them"), ("who", "whom")],
    "possessive": [("i", "my"), ("thou", "thy"), ("he", "his"), ("we", "our"), ("they", "their"),
                   ("you", "your"), ("she", "her")],
    "past tense": [("speak", "spoke"), ("take", "took"), ("give", "gave"), ("come", "came"), ("see", "saw"),
                   ("know", "knew"), ("go", "went"), ("make", "made"), ("say", "said"), ("tell", "told"),
                   ("think", "thought"), ("hear", "heard"), ("find", "found"), ("bring", "brought"),
                   ("stand", "stood"), ("fall", "fell"), ("lose", "lost"), ("die", "died"), ("love", "loved")],
    "thou-verb": [("have", "hast"), ("do", "dost"), ("are", "art"), ("will", "wilt"), ("shall", "shalt"),
                  ("can", "canst"), ("know", "knowest"), ("may", "mayst"), ("speak", "speak'st"),
                  ("love", "lovest"), ("think", "think'st"), ("had", "hadst"), ("did", "didst")],
    "plural": [("lord", "lords"), ("king", "kings"), ("friend", "friends"), ("eye", "eyes"), ("hand", "hands"),
               ("son", "sons"), ("man", "men"), ("woman", "women"), ("soldier", "soldiers"), ("word", "words"),
               ("heart", "hearts"), ("night", "nights"), ("day", "days"), ("enemy", "enemies")],
}


def unit_rows(vectors: torch.Tensor) -> torch.Tensor:
    """Each row scaled to length 1 (zero rows stay zero): (V, d) -> (V, d)."""
    if vectors.dim() != 2:
        raise ValueError(f"vectors must have shape (V, d), got {tuple(vectors.shape)}")
    return vectors / vectors.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def nearest_neighbours(
    vectors: torch.Tensor, query_ids: Sequence[int], k: int = 10, exclude_self: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` ids most cosine-similar to each query, best first, and their similarities: both (Q, k)."""
    unit = unit_rows(vectors.float())
    q = torch.as_tensor(list(query_ids), dtype=torch.long)
    sims = unit[q] @ unit.T  # (Q, V) cosine similarity of each query to every word
    if exclude_self:
        sims[torch.arange(len(q)), q] = -float("inf")
    top = sims.topk(k, dim=-1)
    return top.indices, top.values


def analogy(vectors: torch.Tensor, a: Sequence[int], b: Sequence[int], c: Sequence[int], k: int = 1) -> torch.Tensor:
    """Batched 3CosAdd: for each question, the ``k`` ids nearest to ``b - a + c`` (unit vectors), excluding
    a, b and c themselves (otherwise b or c usually wins). a, b, c: (Q,) ids. Returns (Q, k) ids."""
    unit = unit_rows(vectors.float())
    a, b, c = (torch.as_tensor(list(x), dtype=torch.long) for x in (a, b, c))
    target = unit[b] - unit[a] + unit[c]  # (Q, d)
    sims = unit_rows(target) @ unit.T  # (Q, V)
    rows = torch.arange(len(a))
    for ids in (a, b, c):
        sims[rows, ids] = -float("inf")
    return sims.topk(k, dim=-1).indices


def analogy_questions(
    words: Sequence[str], pairs: dict[str, list[tuple[str, str]]] | None = None
) -> list[tuple[str, str, str, str, str]]:
    """Questions (category, x1, y1, x2, y2) from every ordered couple of pairs of a category, both words of
    both pairs in ``words``. Default pairs: ``ANALOGY_PAIRS``."""
    known = set(words)
    out = []
    for category, plist in (pairs or ANALOGY_PAIRS).items():
        usable = [p for p in plist if p[0] in known and p[1] in known]
        out += [(category, x1, y1, x2, y2) for (x1, y1), (x2, y2) in permutations(usable, 2) if y1 != y2]
    return out


def evaluate_analogies(
    vectors: torch.Tensor, words: Sequence[str], questions: Sequence[tuple[str, str, str, str, str]], k: int = 1
) -> dict:
    """Accuracy of ``analogy`` on ``questions``: an answer counts when y2 is among the top ``k``.

    Returns ``{"accuracy", "n", "by_category": {category: accuracy}, "answers": [top-1 word per question]}``.
    """
    if len(words) != vectors.shape[0]:
        raise ValueError(f"{len(words)} words for {vectors.shape[0]} vectors; they must match row for row")
    if not questions:
        raise ValueError("no analogy questions: none of the pairs has both words in the vocabulary")
    index = {w: i for i, w in enumerate(words)}
    x1, y1, x2, y2 = ([index[q[j]] for q in questions] for j in (1, 2, 3, 4))
    top = analogy(vectors, x1, y1, x2, k)  # (Q, k)
    hit = (top == torch.tensor(y2).unsqueeze(-1)).any(-1).numpy()
    cats = np.array([q[0] for q in questions])
    return {
        "accuracy": float(hit.mean()),
        "n": len(questions),
        "by_category": {c: float(hit[cats == c].mean()) for c in dict.fromkeys(cats)},
        "answers": [words[i] for i in top[:, 0].tolist()],
    }


def neighbour_overlap(vectors_a: torch.Tensor, vectors_b: torch.Tensor, query_ids: Sequence[int], k: int = 10) -> float:
    """Mean share of the top-``k`` neighbours that two embeddings of the same vocabulary agree on, in [0, 1]."""
    if vectors_a.shape[0] != vectors_b.shape[0]:
        raise ValueError(f"both embeddings need the same vocabulary: {vectors_a.shape[0]} vs {vectors_b.shape[0]} rows")
    na, _ = nearest_neighbours(vectors_a, query_ids, k)
    nb, _ = nearest_neighbours(vectors_b, query_ids, k)
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(na.tolist(), nb.tolist())]))


def pca_2d(vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Project (V, d) vectors on their first two principal components: ((V, 2) coordinates, (2,) share of the
    variance each component explains)."""
    x = vectors.float() - vectors.float().mean(0)  # (V, d) centred
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    return x @ vh[:2].T, (s[:2] ** 2) / (s**2).sum()
