"""The testing strategy of a transformer language model, run on a model you hand it and reported as a table.

What it does: :func:`run_model_checks` builds a :class:`~mlcourse.model.transformer.TransformerLM` from a config and
runs the six checks that the course's tests (``tests/test_transformer.py``) run on every variant, returning one
row per check (what was checked, how, what came out, passed or not):

  1. output shape: ids (B, T) give logits (B, T, V), with B, T, H and V all different so a transposition shows;
  2. causality: changing the tokens after position t leaves the logits at positions <= t exactly unchanged;
  3. distinct positions: no two positions get the same encoding (the sinusoidal or learned table, or RoPE's angles);
  4. overfitting two samples: Adam drives the loss on two fixed sequences to near zero (a model that cannot
     memorise two samples is miswired: a detached part, a mask that hides everything, a frozen parameter);
  5. gradients: every parameter receives a finite, non-zero gradient;
  6. ``torch.autograd.gradcheck`` on a small attention layer of the same kind, in float64: the analytic gradient
     equals finite differences.

What it deliberately does not do: compare with a reference implementation (chapter 12's Hugging Face round trip
does that), measure quality, or train on real text. Each check is cheap (under a few seconds on a CPU).

Taught in chapter 12 (The decoder-only transformer from scratch), where it runs live on the chapter's model.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from mlcourse.model.gqa_attention import GroupedQueryAttention
from mlcourse.model.transformer import TransformerConfig, TransformerLM

Row = dict[str, object]


def _row(check: str, how: str, result: str, passed: bool) -> Row:
    return {"check": check, "how": how, "result": result, "passed": bool(passed)}


def check_shape(model: TransformerLM, B: int = 2, T: int = 7) -> Row:
    """Logits of ids (B, T) must be (B, T, V)."""
    V = model.config.vocab_size
    ids = torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        shape = tuple(model(ids).shape)
    return _row("output shape", f"ids of shape ({B}, {T}) through the model", f"logits {shape}, expected ({B}, {T}, {V})",
                shape == (B, T, V))


def check_causality(model: TransformerLM, T: int = 12, t: int = 5) -> Row:
    """Changing tokens after position t must leave every logit at positions 0..t exactly unchanged."""
    V = model.config.vocab_size
    ids = torch.randint(0, V, (2, T), generator=torch.Generator().manual_seed(1))
    changed = ids.clone()
    changed[:, t + 1:] = (ids[:, t + 1:] + 1) % V
    with torch.no_grad():
        before, after = model(ids), model(changed)
    past = (before[:, : t + 1] - after[:, : t + 1]).abs().max().item()
    future = (before[:, t + 1:] - after[:, t + 1:]).abs().max().item()
    return _row("causal mask", f"change the tokens after position {t} of {T}",
                f"max |Δ logits| at 0..{t}: {past:.1e}; after {t}: {future:.2f}", past == 0.0 and future > 0)


def position_encodings(model: TransformerLM, T: int) -> torch.Tensor | None:
    """(T, n) one vector per position: the added table, or RoPE's (cos, sin) angles; None without positions."""
    c = model.config
    positions = torch.arange(T)
    if c.positions == "sinusoidal":
        return model.position_table[:T]
    if c.positions == "learned":
        return model.embed_positions(positions).detach()
    if c.positions == "rope":
        cos, sin = model.rotary(positions)  # each (T, d_head)
        return torch.cat((cos, sin), dim=-1)
    return None


def check_distinct_positions(model: TransformerLM) -> Row:
    """No two positions up to max_seq_len share an encoding (smallest pairwise distance > 0)."""
    T = model.config.max_seq_len
    codes = position_encodings(model, T)
    if codes is None:
        return _row("distinct positions", "positions='none'", "the model has no position encoding", False)
    distances = torch.cdist(codes.double(), codes.double())  # (T, T)
    smallest = distances[~torch.eye(T, dtype=torch.bool)].min().item()
    return _row("distinct positions", f"pairwise distances of the {model.config.positions} encodings of {T} positions",
                f"smallest distance {smallest:.2e}", smallest > 1e-6)


def check_overfits_two_samples(config: TransformerConfig, steps: int = 200, lr: float = 3e-3, seed: int = 0,
                               threshold: float = 0.05) -> Row:
    """A fresh model trained on two fixed random sequences must drive their loss below ``threshold`` nats."""
    torch.manual_seed(seed)
    model = TransformerLM(config)
    g = torch.Generator().manual_seed(seed + 1)
    window = torch.randint(0, config.vocab_size, (2, 13), generator=g)  # two sequences of 12 + 1 tokens
    x, y = window[:, :-1], window[:, 1:]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    first = None
    for _ in range(steps):
        loss = model.loss(x, y)
        first = loss.item() if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        final = model.loss(x, y).item()
    return _row("overfit two samples", f"{steps} Adam steps (lr {lr:g}) on 2 random sequences of 12 tokens",
                f"loss {first:.2f} -> {final:.4f} nats (threshold {threshold})", final < threshold)


def check_gradients(model: TransformerLM) -> Row:
    """One backward pass: every parameter gets a gradient that is finite and not all zero."""
    V = model.config.vocab_size
    g = torch.Generator().manual_seed(2)
    x, y = torch.randint(0, V, (2, 10), generator=g), torch.randint(0, V, (2, 10), generator=g)
    model.zero_grad(set_to_none=True)
    model.loss(x, y).backward()
    named = list(model.named_parameters())
    bad = [n for n, p in named if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0]
    model.zero_grad(set_to_none=True)
    return _row("finite gradients", "one backward pass of the loss",
                f"{len(named) - len(bad)} of {len(named)} parameter tensors" + (f"; bad: {bad[:3]}" if bad else ""),
                not bad)


def check_attention_gradcheck(config: TransformerConfig) -> Row:
    """torch.autograd.gradcheck of a small attention layer of the config's kind (heads, K/V heads, scale), float64."""
    H = config.n_heads
    attn = GroupedQueryAttention(2 * H, H, config.kv_heads, bias=config.bias, scale=config.attn_scale,
                                 path="explicit").double()
    x = torch.randn(1, 5, 2 * H, dtype=torch.float64, generator=torch.Generator().manual_seed(3), requires_grad=True)
    ok = torch.autograd.gradcheck(lambda inp: attn(inp), (x,), eps=1e-6, atol=1e-5, raise_exception=False)
    return _row("gradcheck (attention)", f"float64 attention, d=2H={2 * H}, {H}:{config.kv_heads} heads, T=5",
                "analytic = finite-difference gradient" if ok else "analytic and numeric gradients differ", ok)


def run_model_checks(config: TransformerConfig, *, seed: int = 0, overfit_steps: int = 200) -> list[Row]:
    """All six checks on a model built from ``config`` (seeded); one row each, in the order of the docstring."""
    torch.manual_seed(seed)
    model = TransformerLM(config).eval()
    checks: list[Callable[[], Row]] = [
        lambda: check_shape(model),
        lambda: check_causality(model, T=min(12, config.max_seq_len)),
        lambda: check_distinct_positions(model),
        lambda: check_overfits_two_samples(config, steps=overfit_steps, seed=seed),
        lambda: check_gradients(model),
        lambda: check_attention_gradcheck(config),
    ]
    return [check() for check in checks]
