"""Skip-gram embeddings from scratch: the model, its two objectives, a vectorised training loop.

``SkipGram`` holds two tables, ``center`` (the embeddings we keep, v_w) and ``context`` (u_w). Two losses:
``full_softmax_loss`` scores a center against the whole vocabulary (exact, O(V) per pair: fine for
characters, slow for words); ``negative_sampling_loss`` tells the true context from ``k`` noise words with
k + 1 logistic regressions (O(k) per pair), word2vec's practical objective. ``train_skipgram`` draws the
pairs of each epoch afresh (new subsampling, shuffled), trains in large batches with a linearly decaying learning rate
(negative sampling: hand-written sparse SGD, as word2vec; full softmax: autograd + Adam), records the loss.
Two negative-sampling steps: ``negative_sampling_sgd_step`` draws k negatives per pair (word2vec's way, a
gather/multiply/scatter over (B, k + 1, d) blocks); ``shared_negatives_sgd_step`` (the default,
``negative_pool > 0``) draws a pool of N noise words per group of pairs, shared by them and weighted k / N,
the same gradient in expectation, computed with batched matrix products instead of memory-bound gathers
(each group of 128 pairs has its own pool of 32; a batch that does not split into whole groups, such as the last
one of an epoch, takes the per-pair step).

What it does not do: tokenise or build pairs (``mlcourse.embeddings.skipgram_data``), or query the trained vectors
(``mlcourse.embeddings.word_vectors``: neighbours, analogies, PCA).

Taught in chapter 12.25 (Embeddings and representation learning, with 12.5).
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass
from typing import Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from mlcourse.course.device import resolve_device
from mlcourse.embeddings.skipgram_data import keep_probabilities, noise_distribution, skipgram_pairs


class SkipGram(nn.Module):
    """Two embedding tables of shape (V, d): ``center`` (input vectors v) and ``context`` (output vectors u).

    Initialised as in word2vec: ``center`` uniform in (-0.5/d, 0.5/d), ``context`` zero, so that every score
    starts at 0 and every first prediction is uniform.
    """

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        if vocab_size < 2 or dim < 1:
            raise ValueError(f"need vocab_size >= 2 and dim >= 1, got vocab_size={vocab_size}, dim={dim}")
        self.center = nn.Embedding(vocab_size, dim)
        self.context = nn.Embedding(vocab_size, dim)
        with torch.no_grad():
            self.center.weight.uniform_(-0.5 / dim, 0.5 / dim)
            self.context.weight.zero_()

    @property
    def vectors(self) -> torch.Tensor:
        """The learned word vectors, a detached copy of ``center.weight``: (V, d)."""
        return self.center.weight.detach().clone()


def full_softmax_loss(model: SkipGram, centers: torch.Tensor, contexts: torch.Tensor) -> torch.Tensor:
    """Mean of ``-log p(context | center)`` with ``p = softmax_w(u_w . v_center)`` over all V words.

    centers, contexts: (B,) ids. Returns a scalar.
    """
    v = model.center(centers)  # (B, d)
    logits = v @ model.context.weight.T  # (B, V): one score per vocabulary word
    return F.cross_entropy(logits, contexts)


def negative_sampling_loss(
    model: SkipGram, centers: torch.Tensor, contexts: torch.Tensor, negatives: torch.Tensor
) -> torch.Tensor:
    """Mean over the batch of ``-log s(u_o . v_c) - sum_k log s(-u_k . v_c)`` (s: the logistic sigmoid).

    centers, contexts: (B,) ids; negatives: (B, K) ids drawn from the noise distribution. Returns a scalar.
    """
    if negatives.dim() != 2 or negatives.shape[0] != centers.shape[0]:
        raise ValueError(f"negatives must have shape (B, K) with B={centers.shape[0]}, got {tuple(negatives.shape)}")
    v = model.center(centers)  # (B, d)
    pos = (model.context(contexts) * v).sum(-1)  # (B,) score of the true context
    neg = torch.bmm(model.context(negatives), v.unsqueeze(-1)).squeeze(-1)  # (B, K) scores of the noise words
    return -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean()


@torch.no_grad()
def negative_sampling_sgd_step(
    model: SkipGram, centers: torch.Tensor, contexts: torch.Tensor, negatives: torch.Tensor, lr: float
) -> float:
    """One plain-SGD step on the *summed* negative-sampling loss of the batch, gradients written by hand.

    The loss of one pair is ``-log s(u_o . v) - sum_k log s(-u_k . v)``; with ``g_j = s(u_j . v) - y_j``
    (y = 1 for the true context, 0 for a negative) its gradients are ``dL/dv = sum_j g_j u_j`` and
    ``dL/du_j = g_j v``. ``scatter_add_`` adds them into the rows that the batch touched, and only those, as
    word2vec does: no (V, d) gradient, no optimizer state, about twice as fast as autograd + Adam on a CPU.
    ``tests/test_embeddings.py`` checks these gradients against autograd. Returns the batch's mean loss.
    """
    targets = torch.cat([contexts.unsqueeze(1), negatives], dim=1)  # (B, 1+K): true context first
    B, d = len(centers), model.center.weight.shape[1]
    # index_select, elementwise products and scatter_add_ rather than fancy indexing, einsum and index_add_:
    # the same arithmetic, measured 2x faster on one CPU thread (einsum turns into B tiny matrix products).
    v = model.center.weight.index_select(0, centers)  # (B, d)
    u = model.context.weight.index_select(0, targets.reshape(-1)).view(B, -1, d)  # (B, 1+K, d)
    scores = (u * v.unsqueeze(1)).sum(-1)  # (B, 1+K)
    labels = torch.zeros_like(scores)
    labels[:, 0] = 1.0
    g = torch.sigmoid(scores) - labels  # (B, 1+K) dL/dscore
    step_v = (g.unsqueeze(-1) * u).sum(1).mul_(-lr)  # (B, d): -lr * dL/dv
    step_u = (g.unsqueeze(-1) * v.unsqueeze(1)).mul_(-lr).view(-1, d)  # (B*(1+K), d): -lr * dL/du_j
    model.center.weight.scatter_add_(0, centers.unsqueeze(1).expand(-1, d), step_v)
    model.context.weight.scatter_add_(0, targets.reshape(-1, 1).expand(-1, d), step_u)
    sign = 1.0 - 2.0 * (1.0 - labels)  # +1 for the context, -1 for negatives
    return -F.logsigmoid(scores * sign).sum(-1).mean().item()


@torch.no_grad()
def shared_negatives_sgd_step(
    model: SkipGram, centers: torch.Tensor, contexts: torch.Tensor, pools: torch.Tensor, k: int, lr: float
) -> float:
    """One sparse SGD step in which each group of G consecutive pairs shares one pool of N noise words.

    Each pair's negative term is ``(k / N) sum_n log s(-u_n . v)`` over its group's pool: the expected value of
    k independently drawn negatives, so the objective is word2vec's in expectation (GPU word2vec implementations
    share negatives the same way). Scores and both gradients are batched matrix products, (G, d) @ (d, N) per
    group, instead of (B, k + 1, d) gathers and scatters. Groups keep a pool word's update to G * k / N pair
    gradients (20 for G=128, N=32); one pool for a whole batch of 4,096 made rare pool words jump and diverge.
    centers, contexts: (B,) ids with B = n_groups * G; pools: (n_groups, N) ids. Returns the mean loss per
    pair (its pool term estimated on the first group).
    """
    center_w, context_w = model.center.weight, model.context.weight
    n_groups, N = pools.shape
    d = center_w.shape[1]
    v = center_w.index_select(0, centers)  # (B, d)
    u_pos = context_w.index_select(0, contexts)  # (B, d)
    u_neg = context_w.index_select(0, pools.reshape(-1)).view(n_groups, N, d)  # (n_groups, N, d)
    v_groups = v.view(n_groups, -1, d)  # (n_groups, G, d)
    s_pos = (u_pos * v).sum(-1, keepdim=True)  # (B, 1)
    s_neg = torch.bmm(v_groups, u_neg.transpose(1, 2))  # (n_groups, G, N)
    weight = k / N
    g_pos = torch.sigmoid(s_pos).sub_(1.0)  # (B, 1) dL/ds for the true context: s(s) - 1
    g_neg = torch.sigmoid(s_neg).mul_(weight)  # (n_groups, G, N) dL/ds for the pool: (k / N) s(s)
    # the loss is only logged: its pool term is estimated on the first group (a log over all B * N scores
    # would cost a tenth of the step); the positive term is exact
    loss = -(F.logsigmoid(s_pos).mean() + weight * F.logsigmoid(-s_neg[0]).sum(-1).mean()).item()
    step_v = torch.baddbmm((g_pos * u_pos).view(n_groups, -1, d), g_neg, u_neg)  # (n_groups, G, d): dL/dv
    step_pos = g_pos * v  # (B, d): dL/du_context
    step_neg = torch.bmm(g_neg.transpose(1, 2), v_groups)  # (n_groups, N, d): dL/du_n, summed over the group
    center_w.index_add_(0, centers, step_v.view(-1, d), alpha=-lr)
    context_w.index_add_(0, contexts, step_pos, alpha=-lr)
    context_w.index_add_(0, pools.reshape(-1), step_neg.view(-1, d), alpha=-lr)
    return loss


@dataclass
class SkipGramConfig:
    """Settings of one training run. ``objective``: "negative" (sampling, trained by hand-written sparse SGD
    like word2vec, ``lr`` per pair) or "softmax" (full, trained by autograd + Adam, ``lr`` of Adam).

    ``subsample``: word2vec's threshold t (0 = keep every token). ``shrink_window``: draw each center's window
    from 1..window (near words weigh more), as word2vec and gensim do. ``negative_pool``: N noise words shared
    by each group of ``pool_group`` pairs (:func:`shared_negatives_sgd_step`); 0 draws ``negatives`` per pair
    instead (:func:`negative_sampling_sgd_step`, the textbook step, slower on a CPU).
    """

    dim: int = 100
    window: int = 5
    negatives: int = 5
    subsample: float = 1e-3
    epochs: int = 5
    batch_size: int = 4096
    lr: float = 0.025
    objective: Literal["negative", "softmax"] = "negative"
    shrink_window: bool = True
    negative_pool: int = 32
    pool_group: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if self.objective not in ("negative", "softmax"):
            raise ValueError(f"objective must be 'negative' or 'softmax', got {self.objective!r}")
        for name in ("dim", "window", "negatives", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.pool_group < 1:
            raise ValueError(f"pool_group must be >= 1, got {self.pool_group}")
        if self.negative_pool < 0:
            raise ValueError(f"negative_pool must be >= 0 (0: per-pair negatives), got {self.negative_pool}")


def train_skipgram(
    sentences: Sequence[np.ndarray],
    counts: np.ndarray,
    config: SkipGramConfig,
    device: str | torch.device = "auto",
    progress: bool = True,
    log_every: int = 50,
) -> tuple[SkipGram, list[dict]]:
    """Train skip-gram on ``sentences`` (id arrays over a vocabulary whose word counts are ``counts``, (V,)).

    Returns the model and a history of ``{"epoch", "step", "pairs", "loss"}`` rows, one every ``log_every``
    steps (the loss averaged over those steps). Same seed, same device: same vectors. ``device``: a name
    (``"auto"``: cuda > mps > cpu) or a ``torch.device``, resolved by :func:`mlcourse.course.device.resolve_device`.
    """
    device = resolve_device(device)
    vocab_size = len(counts)
    all_ids = np.concatenate([np.asarray(s, dtype=np.int64) for s in sentences]) if sentences else np.zeros(0)
    if len(all_ids) == 0 or all_ids.min() < 0 or all_ids.max() >= vocab_size:
        raise ValueError(f"sentences must be non-empty with ids in [0, {vocab_size}); encode the text with the same Vocab")
    rng = np.random.default_rng(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    model = SkipGram(vocab_size, config.dim).to(device)
    keep = keep_probabilities(counts, config.subsample)
    noise = noise_distribution(counts)
    # Negatives come from a table in which word w fills a share noise[w] of the cells: one randint then
    # draws B*K of them at once, much faster than torch.multinomial over V categories.
    table = torch.from_numpy(np.repeat(np.arange(vocab_size), np.round(noise.numpy() * 1_000_000).astype(np.int64)))
    opt = torch.optim.Adam(model.parameters(), lr=config.lr) if config.objective == "softmax" else None
    # Word2vec lets the learning rate fall linearly to ~0 over training; the pairs per epoch are known only
    # once drawn, so estimate the total from the first epoch.
    history: list[dict] = []
    step, seen, total_steps, running = 0, 0, None, []
    for epoch in range(config.epochs):
        centers, contexts = skipgram_pairs(sentences, config.window, rng, keep, config.shrink_window)
        order = torch.from_numpy(rng.permutation(len(centers)))
        centers_t, contexts_t = torch.from_numpy(centers)[order], torch.from_numpy(contexts)[order]
        n_batches = math.ceil(len(centers) / config.batch_size)
        total_steps = total_steps or n_batches * config.epochs
        groups = config.batch_size // config.pool_group
        if opt is None and config.negative_pool and groups:  # the epoch's pools in one draw: (n_batches, groups, N)
            pools = torch.randint(len(table), (n_batches, groups, config.negative_pool), generator=gen)
        # stdout, not stderr: the book build treats stderr in a notebook's outputs as a warning
        bar = tqdm(range(n_batches), desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress, leave=False,
                   mininterval=2.0, ncols=90, file=sys.stdout)
        for b in bar:
            sl = slice(b * config.batch_size, (b + 1) * config.batch_size)
            c, o = centers_t[sl].to(device), contexts_t[sl].to(device)  # (B,), (B,)
            lr = config.lr * max(1e-4, 1 - step / total_steps)
            if opt is not None:  # full softmax: autograd and Adam
                loss = full_softmax_loss(model, c, o)
                for group in opt.param_groups:
                    group["lr"] = lr
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                running.append(loss.item())
            elif config.negative_pool and groups and len(c) == groups * config.pool_group:  # shared pools
                pool = table[pools[b]].to(device)  # (groups, N)
                running.append(shared_negatives_sgd_step(model, c, o, pool, config.negatives, lr))
            else:  # negative sampling: word2vec's sparse SGD, k negatives per pair
                picks = torch.randint(len(table), (len(c), config.negatives), generator=gen)
                running.append(negative_sampling_sgd_step(model, c, o, table[picks].to(device), lr))  # (B, K)
            step, seen = step + 1, seen + len(c)
            if step % log_every == 0 or b == n_batches - 1:
                history.append({"epoch": epoch + (b + 1) / n_batches, "step": step, "pairs": seen,
                                "loss": float(np.mean(running))})
                running = []
    return model, history


def config_dict(config: SkipGramConfig) -> dict:
    """``config`` as a plain dict (for results.json)."""
    return asdict(config)
