"""Checks for the exercises of chapter 12.25 (embeddings): CBOW loss, character n-grams, 3CosMul analogies.

Each ``check_*`` takes the learner's function, runs it on small fixed inputs, compares with the reference
written here and prints one verdict line through :func:`mlcourse.checks.core.run_check`.

What it does not do: train embeddings, or grade the open-ended measurements (their worked answers are in the
solutions notebook).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from mlcourse.checks.core import Verdict, expect, expect_close, run_check
from mlcourse.embeddings.skipgram import SkipGram


def reference_cbow_loss(
    model: SkipGram, context_ids: torch.Tensor, centers: torch.Tensor, negatives: torch.Tensor
) -> torch.Tensor:
    """CBOW with negative sampling: h = mean of the context words' ``center`` vectors, (B, 2c, d) -> (B, d);
    loss = mean over the batch of ``-log s(u_center . h) - sum_k log s(-u_k . h)``."""
    h = model.center(context_ids).mean(1)  # (B, d)
    pos = (model.context(centers) * h).sum(-1)  # (B,)
    neg = torch.bmm(model.context(negatives), h.unsqueeze(-1)).squeeze(-1)  # (B, K)
    return -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean()


def reference_char_ngrams(word: str, n_min: int = 3, n_max: int = 5) -> list[str]:
    """fastText's n-grams of ``"<" + word + ">"``, for n = n_min..n_max, by n then position (the whole
    ``"<word>"`` is not among them unless its length is in range)."""
    marked = f"<{word}>"
    return [marked[i : i + n] for n in range(n_min, n_max + 1) for i in range(len(marked) - n + 1)]


def reference_3cosmul(vectors: torch.Tensor, a: int, b: int, c: int, eps: float = 1e-3) -> int:
    """Levy and Goldberg's 3CosMul: argmax_w cos'(w, b) cos'(w, c) / (cos'(w, a) + eps), cos' = (cos + 1) / 2,
    over every word except a, b, c."""
    unit = vectors / vectors.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    cos = lambda i: (unit @ unit[i] + 1) / 2  # noqa: E731 - (V,) shifted into [0, 1]
    score = cos(b) * cos(c) / (cos(a) + eps)
    score[[a, b, c]] = -float("inf")
    return int(score.argmax())


def check_cbow_loss(fn: Callable[..., torch.Tensor], verbose: bool = True) -> Verdict:
    """``fn(model, context_ids (B, 2c), centers (B,), negatives (B, K))`` must equal the reference CBOW loss."""

    def check() -> None:
        torch.manual_seed(0)
        model = SkipGram(12, 4)
        with torch.no_grad():
            model.context.weight.normal_()
            model.center.weight.normal_()
        ctx, centers, negs = torch.randint(12, (5, 4)), torch.randint(12, (5,)), torch.randint(12, (5, 3))
        got = fn(model, ctx, centers, negs)
        expect(isinstance(got, torch.Tensor) and got.dim() == 0, f"expected a scalar tensor, got {got!r:.60}")
        expected = reference_cbow_loss(model, ctx, centers, negs)
        if isinstance(got, torch.Tensor) and abs(got.item() - expected.item() * ctx.shape[1]) < 1e-4:
            expect(False, "your loss is 2c times too large: average the context vectors, do not sum them")
        expect_close("CBOW loss", got, expected, atol=1e-5)
        got.backward()
        expect(model.center.weight.grad is not None, "no gradient reached the center table: keep the graph")

    return run_check("CBOW negative-sampling loss", check, verbose=verbose)


def check_char_ngrams(fn: Callable[..., list[str]], verbose: bool = True) -> Verdict:
    """``fn(word, n_min, n_max)`` must list fastText's character n-grams in the reference order."""

    def check() -> None:
        for word, lo, hi in (("king", 3, 5), ("thee", 3, 3), ("o'er", 2, 4), ("a", 3, 5)):
            got = fn(word, lo, hi)
            expected = reference_char_ngrams(word, lo, hi)
            if isinstance(got, list) and set(got) == set(expected) and got != expected:
                expect(False, f"{word!r}: right n-grams, wrong order; list them by n, then by position")
            expect(got == expected, f"{word!r}, n={lo}..{hi}: expected {expected}, got {got}")

    return run_check("character n-grams with boundary markers", check, verbose=verbose)


def check_3cosmul(fn: Callable[..., int], verbose: bool = True) -> Verdict:
    """``fn(vectors, a, b, c)`` must return the reference 3CosMul answer (an int id, never a, b or c)."""

    def check() -> None:
        g = torch.Generator().manual_seed(1)
        vectors = torch.randn(40, 6, generator=g)
        for a, b, c in ((0, 1, 2), (5, 9, 13), (7, 3, 3 + 20)):
            got = fn(vectors, a, b, c)
            expect(int(got) not in (a, b, c), f"question ({a}, {b}, {c}): the answer {int(got)} is a query word; "
                   "exclude a, b and c")
            expect(int(got) == reference_3cosmul(vectors, a, b, c),
                   f"question ({a}, {b}, {c}): expected id {reference_3cosmul(vectors, a, b, c)}, got {int(got)}")

    return run_check("3CosMul analogy", check, verbose=verbose)
