"""How much gradient reaches the early inputs of a sequence: a tanh RNN and an LSTM against self-attention.

A loss placed at the LAST position of a sequence sends a gradient back to every input x_t. In a recurrent
network the signal from x_1 has to cross T-1 steps, one Jacobian per step, so its size behaves like a product
of T-1 factors and (when they are below 1, as at the default initialisation) shrinks exponentially in T. In one
self-attention layer every input is one step away from every output: the path from x_1 is weighted by the
attention weight a_{T,1} (about 1/T at initialisation), not by a product of T factors.

What it does: builds the three models at their PyTorch default initialisation (or from your own builders),
measures ||dL/dx_t|| for every position t with ONE backward pass per (model, length, seed), in float64 (float32
would round the RNN's tiny gradients to exactly 0), and returns a tidy pandas table.
What it does not do: train anything; the measurement is at initialisation, where the difference is structural.

Taught in chapter 12.1 (Attention mechanisms).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn

from mlcourse.model.attention import MultiHeadAttention

KINDS = ("rnn", "lstm", "attention")
Builder = Callable[[int], nn.Module]  # d_model -> a module mapping (B, T, d_model) to (B, T, d_out)


class RecurrentLayer(nn.Module):
    """nn.RNN (tanh) or nn.LSTM, batch first, returning only the per-position outputs (B, T, d_model)."""

    def __init__(self, d_model: int, cell: str = "rnn") -> None:
        super().__init__()
        if cell not in ("rnn", "lstm"):
            raise ValueError(f"cell must be 'rnn' or 'lstm', got {cell!r}.")
        layer = nn.RNN if cell == "rnn" else nn.LSTM
        self.rnn = layer(d_model, d_model, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # (B, T, d_model); the final hidden state is out[:, -1]
        return out


class SelfAttentionLayer(nn.Module):
    """One causal multi-head self-attention layer, optionally with a residual connection: x (+ attn(x))."""

    def __init__(self, d_model: int, num_heads: int = 1, *, residual: bool = False) -> None:
        super().__init__()
        self.attn = MultiHeadAttention(d_model, num_heads)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.attn(x, causal=True, need_weights=False)  # (B, T, d_model)
        return x + out if self.residual else out


def build_sequence_model(kind: str, d_model: int = 32) -> nn.Module:
    """A fresh model of ``kind`` ("rnn", "lstm" or "attention") at PyTorch's default initialisation."""
    if kind == "attention":
        return SelfAttentionLayer(d_model)
    if kind in ("rnn", "lstm"):
        return RecurrentLayer(d_model, kind)
    raise ValueError(f"Unknown model kind {kind!r}; choose one of {', '.join(KINDS)} or pass a builder.")


def input_gradient_norms(model: nn.Module, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """||dL/dx_t|| for every sequence and position, where L = <u, y_T> with a random unit vector u per sequence.

    Args:
        model: maps (B, T, d_in) to (B, T, d_out).
        x: inputs (B, T, d_in), in the model's dtype.
        generator: draws the directions u.

    Returns:
        (B, T): the norm of the gradient that the last position's output sends to each input position.
    """
    x = x.detach().clone().requires_grad_(True)
    y_last = model(x)[:, -1]  # (B, d_out): the output at the last position
    u = torch.randn(y_last.shape, generator=generator, dtype=y_last.dtype)  # (B, d_out)
    u = u / u.norm(dim=-1, keepdim=True)
    # Sequences are independent, so one backward of the sum gives each sequence its own gradient.
    (grad,) = torch.autograd.grad((y_last * u).sum(), x)  # (B, T, d_in)
    return grad.norm(dim=-1)  # (B, T)


def measure_gradient_flow(
    seq_lens: Iterable[int],
    models: Iterable[str] | Mapping[str, Builder] = KINDS,
    *,
    seeds: Iterable[int] = (0, 1, 2),
    d_model: int = 32,
    batch_size: int = 8,
) -> pd.DataFrame:
    """Gradient reaching each input position from a loss at the last position, for several models and lengths.

    Args:
        seq_lens: sequence lengths T to measure (e.g. 8, 16, ..., 256).
        models: model kinds from :data:`KINDS`, or a mapping ``name -> builder(d_model)`` for your own variants
            (a builder of ``None`` means the built-in kind of that name, so baselines and variants can be mixed).
        seeds: each seed re-initialises the model and draws new inputs x ~ N(0, 1).
        d_model: input and hidden width.
        batch_size: sequences per (model, T, seed); the table keeps their mean.

    Returns:
        A DataFrame with one row per (model, seq_len, seed, position): columns ``model``, ``seq_len``, ``seed``,
        ``position`` (0 = first input), ``distance`` (T - 1 - position: steps back from the loss) and
        ``grad_norm`` (mean over the batch of ||dL/dx_position||).
    """
    builders = dict(models) if isinstance(models, Mapping) else {k: None for k in models}
    rows: list[pd.DataFrame] = []
    for name, builder in builders.items():
        for seed in seeds:
            for T in seq_lens:
                torch.manual_seed(seed)  # the model's initialisation
                model = (builder(d_model) if builder is not None else build_sequence_model(name, d_model)).double()
                generator = torch.Generator().manual_seed(10_000 + seed)
                x = torch.randn(batch_size, T, d_model, generator=generator, dtype=torch.float64)  # (B, T, d)
                norms = input_gradient_norms(model, x, generator).mean(0)  # (T,)
                rows.append(
                    pd.DataFrame(
                        {
                            "model": name,
                            "seq_len": T,
                            "seed": seed,
                            "position": range(T),
                            "distance": range(T - 1, -1, -1),
                            "grad_norm": norms.detach().numpy(),
                        }
                    )
                )
    return pd.concat(rows, ignore_index=True)


def first_position_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Gradient reaching the FIRST input: one row per model, one column per T (geometric mean over seeds)."""
    first = table[table["position"] == 0]
    log_grad = np.log10(first["grad_norm"].clip(lower=1e-300))  # geometric mean: the values span many decades
    return 10.0 ** log_grad.groupby([first["model"], first["seq_len"]]).mean().unstack("seq_len")
