"""Benchmarks: the course's code timed side by side with outside references, ``python -m mlcourse bench [name]``.

What it does: each benchmark builds its candidates, then times them in rounds, interleaved (the order rotates
every round, so a burst of load from another process hits every candidate alike), and prints the median time
of each with its ratio to the reference: the mean and the spread (standard deviation, min-max) of the
per-round ratios. The benchmarks (:data:`BENCHES`):
  * ``gpt``: training steps (forward, backward, AdamW) at nanoGPT's CPU "baby" shape (char-level, 4 layers,
    4 heads, width 128, block 64, batch 12): :class:`ReferenceGPT` (nanoGPT's model, written out here), our
    classic model, our Mistral-option model with the fused parts and with the explicit ones.
  * ``hf``: our Mistral-style model against ``transformers.MistralForCausalLM`` with the same weights, at the
    quick base model's shape; also prints the largest logits difference.
  * ``compile``: the quick base model with and without ``torch.compile``: compile time, step time, the number
    of steps after which compiling pays back.
  * ``skipgram``: our skip-gram against gensim's ``Word2Vec`` (1 worker, and 2), quick and full settings of
    chapter 12.25, with their analogy accuracy.
  * ``bpe``: training the 4,096-token BPE on the course's training text: ours, HF ``tokenizers``, SentencePiece.

What it does not do: gate anything (CI runs only a smoke test with tiny sizes), tune settings, or download.
Numbers on a shared machine are noisy: read the spread. Taught with chapter 14 (throughput: a faster step is more
tokens in the same minutes); it measures the code of chapters 12, 12.25, 13 and 14.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def interleave(candidates: dict[str, Callable[[], Any]], rounds: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each candidate in each of ``rounds`` rounds; the order rotates every round."""
    names = list(candidates)
    for _ in range(warmup):
        for name in names:
            candidates[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            candidates[name]()
            times[name].append(time.perf_counter() - start)
    return times


def summarise(times: dict[str, list[float]], reference: str, work: float | None = None,
              unit: str = "") -> list[dict[str, Any]]:  # fmt: skip
    """One row per candidate: median seconds, rate (``work`` / s), time / reference time per round (mean, std,
    min, max) and the speed ratio (reference time / time, mean)."""
    rows = []
    for name, seconds in times.items():
        ratios = [t / ref for t, ref in zip(seconds, times[reference])]
        row = {"candidate": name, "median_s": statistics.median(seconds),
               "time_ratio": statistics.mean(ratios), "time_ratio_std": statistics.pstdev(ratios),
               "time_ratio_min": min(ratios), "time_ratio_max": max(ratios),
               "speed_ratio": statistics.mean(1 / r for r in ratios)}
        if work is not None:
            row[f"{unit}/s"] = work / statistics.median(seconds)
        rows.append(row)
    return rows


def print_rows(title: str, rows: list[dict[str, Any]], reference: str, extra: tuple[str, ...] = ()) -> None:
    """A plain-text table of :func:`summarise` rows (plus ``extra`` columns)."""
    print(f"\n{title}  (ratios per round against {reference!r}: mean +- std [min, max])")
    for row in rows:
        rate = next((f"{v:,.0f} {k}" for k, v in row.items() if k.endswith("/s")), "")
        more = "  ".join(f"{k}={row[k]:.4g}" if isinstance(row[k], float) else f"{k}={row[k]}" for k in extra if k in row)
        print(f"  {row['candidate']:<42} {row['median_s'] * 1e3:9.1f} ms  {rate:>16}  time x{row['time_ratio']:.3f} "
              f"+- {row['time_ratio_std']:.3f} [{row['time_ratio_min']:.2f}, {row['time_ratio_max']:.2f}]  "
              f"speed x{row['speed_ratio']:.3f}  {more}")


class _RefBlock(nn.Module):
    def __init__(self, d: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.ln_1, self.ln_2 = nn.LayerNorm(d, bias=False), nn.LayerNorm(d, bias=False)
        self.c_attn, self.c_proj = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
        self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d, bias=False), nn.Linear(4 * d, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)  # (B, T, C) each
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class ReferenceGPT(nn.Module):
    """nanoGPT's GPT (karpathy/nanoGPT model.py with bias=False, dropout=0, as its CPU run uses): learned
    positions, one fused qkv projection, GELU MLP, LayerNorm without bias, LM head tied to the embeddings."""

    def __init__(self, vocab_size: int, block_size: int, n_layer: int, n_head: int, d: int) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab_size, d), nn.Embedding(block_size, d)
        self.h = nn.ModuleList(_RefBlock(d, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d, bias=False)
        self.lm_head = nn.Linear(d, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """idx, targets: (B, T) -> mean cross-entropy."""
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))  # (B, T, d)
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))


def _train_steps(model: nn.Module, batch: torch.Tensor, steps: int,
                 loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> Callable[[], None]:
    """A closure that runs ``steps`` AdamW steps of ``loss_fn`` (default ``model.loss``) on the (B, T + 1) ``batch``."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = loss_fn or model.loss

    def run() -> None:
        for _ in range(steps):
            loss = loss_fn(batch[:, :-1], batch[:, 1:])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return run


def bench_gpt(rounds: int = 10, steps: int = 10, smoke: bool = False) -> list[dict[str, Any]]:
    """Training tokens/s at nanoGPT's CPU baby shape: reference GPT, our classic, our Mistral (fused, explicit)."""
    from mlcourse.model.parts import use_fused_parts
    from mlcourse.model.transformer import TransformerConfig, TransformerLM

    V, T, B, L, H, D = (65, 64, 12, 4, 4, 128) if not smoke else (20, 8, 2, 1, 2, 16)
    torch.manual_seed(0)
    batch = torch.randint(0, V, (B, T + 1))
    shape = dict(vocab_size=V, d_model=D, n_layers=L, n_heads=H, max_seq_len=T)
    models = {"reference GPT (nanoGPT)": ReferenceGPT(V, T, L, H, D),
              "ours, classic": TransformerLM(TransformerConfig.classic(**shape)),
              "ours, Mistral options (fused parts)": TransformerLM(TransformerConfig.mistral(**shape)),
              "ours, Mistral options (explicit parts)": use_fused_parts(
                  TransformerLM(TransformerConfig.mistral(**shape)), False),
              # SwiGLU has 3 matrices: at d_ff = 4d it has 1.5x the classic MLP's weights and FLOPs; LLaMA's
              # d_ff = 8/3 d gives it the classic MLP's weights and FLOPs (rounded to a multiple of 8)
              "ours, Mistral options, d_ff = 8/3 d (fused)": TransformerLM(
                  TransformerConfig.mistral(**shape, d_ff=8 * round(D * 8 / 3 / 8)))}
    times = interleave({k: _train_steps(m, batch, steps) for k, m in models.items()}, rounds)
    rows = summarise(times, "reference GPT (nanoGPT)", steps * B * T, "tokens")
    print_rows(f"gpt: training steps at the baby shape (B={B}, T={T}, {L} layers, {H} heads, d={D}, V={V}), "
               f"{torch.get_num_threads()} threads", rows, "reference GPT (nanoGPT)")
    return rows


def bench_hf(rounds: int = 6, steps: int = 3, smoke: bool = False) -> list[dict[str, Any]]:
    """Our Mistral-style model against ``MistralForCausalLM`` with the same weights, at the quick base shape."""
    from mlcourse.model import hf_mistral
    from mlcourse.model.transformer import TransformerConfig, TransformerLM, next_token_loss
    from mlcourse.training.base_model import BASE_SETTINGS

    shape = dict(BASE_SETTINGS["quick"]["model"], vocab_size=4096)
    B, T = BASE_SETTINGS["quick"]["train"]["batch_size"], BASE_SETTINGS["quick"]["train"]["seq_len"]
    if smoke:
        shape, B, T = dict(vocab_size=50, d_model=16, n_layers=1, n_heads=2, n_kv_heads=1, max_seq_len=8), 2, 8
    torch.manual_seed(0)
    ours = TransformerLM(TransformerConfig.mistral(**shape))
    theirs = hf_mistral.to_hf(ours, attn_implementation="sdpa")
    batch = torch.randint(0, shape["vocab_size"], (B, T + 1))
    with torch.no_grad():
        delta = (ours(batch[:, :-1]) - theirs(batch[:, :-1]).logits).abs().max().item()
    hf_loss = lambda x, y: next_token_loss(theirs(x).logits, y)  # noqa: E731 -- the same loss on both sides
    times = interleave({"transformers.MistralForCausalLM": _train_steps(theirs, batch, steps, hf_loss),
                        "ours (TransformerLM, Mistral options)": _train_steps(ours, batch, steps)}, rounds)
    rows = summarise(times, "transformers.MistralForCausalLM", steps * B * T, "tokens")
    for row in rows:
        row["max_abs_logits_diff"] = delta
    print_rows(f"hf: training steps at the quick base shape (B={B}, T={T}); max |logits difference| = {delta:.2e}",
               rows, "transformers.MistralForCausalLM")
    return rows


def bench_compile(steps: int = 30, rounds: int = 5, smoke: bool = False) -> list[dict[str, Any]]:
    """``torch.compile`` on the quick base model: compile seconds, step time with and without, break-even steps."""
    from mlcourse.model.transformer import TransformerConfig, TransformerLM, next_token_loss
    from mlcourse.training.base_model import BASE_SETTINGS

    shape = dict(BASE_SETTINGS["quick"]["model"], vocab_size=4096)
    B, T = BASE_SETTINGS["quick"]["train"]["batch_size"], BASE_SETTINGS["quick"]["train"]["seq_len"]
    if smoke:
        shape, B, T, steps, rounds = dict(vocab_size=50, d_model=16, n_layers=1, n_heads=2, max_seq_len=8), 2, 8, 1, 1
    torch.manual_seed(0)
    eager = TransformerLM(TransformerConfig.mistral(**shape))
    compiled_model = TransformerLM(TransformerConfig.mistral(**shape))
    compiled_model.load_state_dict(eager.state_dict())
    compiled = torch.compile(compiled_model)
    compiled_loss = lambda x, y: next_token_loss(compiled(x), y)  # noqa: E731 -- through the compiled forward
    batch = torch.randint(0, shape["vocab_size"], (B, T + 1))
    start = time.perf_counter()
    _train_steps(compiled_model, batch, 2, compiled_loss)()  # forward and backward graphs are compiled here
    compile_s = time.perf_counter() - start
    times = interleave({"eager": _train_steps(eager, batch, steps),
                        "torch.compile": _train_steps(compiled_model, batch, steps, compiled_loss)},
                       rounds, warmup=0)
    rows = summarise(times, "eager", steps * B * T, "tokens")
    saved = statistics.median(times["eager"]) / steps - statistics.median(times["torch.compile"]) / steps
    for row in rows:
        row["compile_s"] = compile_s
        row["break_even_steps"] = compile_s / saved if saved > 0 else float("inf")
    print_rows(f"compile: the quick base model (B={B}, T={T}); first two compiled steps took {compile_s:.1f} s",
               rows, "eager", extra=("break_even_steps",))
    return rows


def bench_skipgram(rounds: int = 3, smoke: bool = False, profiles: tuple[str, ...] = ("quick", "full"),
                   threads: tuple[int, ...] = (1, 2)) -> list[dict[str, Any]]:  # fmt: skip
    """Our skip-gram (shared negatives; per-pair negatives) against gensim, 1 and 2 threads/workers, with the
    analogy accuracy of the last run of each. Settings: chapter 12.25's quick (d=50, 2 epochs) and full (d=100,
    10 epochs) word models (window 5, 5 negatives, t = 1e-3, min_count 5)."""
    import numpy as np
    from gensim.models import Word2Vec

    from mlcourse.data.shakespeare import load_records, split_works
    from mlcourse.embeddings.skipgram import SkipGramConfig, train_skipgram
    from mlcourse.embeddings.skipgram_data import Vocab, tokenize_words
    from mlcourse.embeddings.word_vectors import analogy_questions, evaluate_analogies

    train_works = set(split_works()[0])
    lines = [tokenize_words(r.text) for r in load_records() if r.work in train_works]
    settings = {"quick": (50, 2), "full": (100, 10)}
    if smoke:
        lines, settings, rounds, threads = lines[:2000], {"quick": (8, 1)}, 1, (1,)
    vocab = Vocab.build(lines, min_count=5)
    ids = [vocab.encode(s) for s in lines]
    questions = analogy_questions(vocab.words)
    all_rows = []
    for profile in profiles:
        if profile not in settings:
            continue
        dim, epochs = settings[profile]
        vectors: dict[str, torch.Tensor] = {}

        def ours(n_threads: int, pool: int, name: str) -> Callable[[], None]:
            def run() -> None:
                before = torch.get_num_threads()
                torch.set_num_threads(n_threads)
                try:
                    cfg = SkipGramConfig(dim=dim, epochs=epochs, window=5, negatives=5, subsample=1e-3, negative_pool=pool)
                    vectors[name] = train_skipgram(ids, vocab.counts, cfg, device="cpu", progress=False)[0].vectors
                finally:
                    torch.set_num_threads(before)
            return run

        def gensim(workers: int, name: str) -> Callable[[], None]:
            def run() -> None:
                w2v = Word2Vec(sentences=lines, vector_size=dim, window=5, min_count=5, sg=1, hs=0, negative=5,
                               sample=1e-3, epochs=epochs, workers=workers, seed=0)
                vectors[name] = torch.tensor(np.stack([w2v.wv[w] for w in vocab.words]))
            return run

        candidates: dict[str, Callable[[], None]] = {}
        for n in threads:
            candidates[f"gensim Word2Vec, {n} worker(s)"] = gensim(n, f"gensim Word2Vec, {n} worker(s)")
            candidates[f"ours, shared negatives, {n} thread(s)"] = ours(n, 32, f"ours, shared negatives, {n} thread(s)")
        candidates["ours, per-pair negatives, 1 thread(s)"] = ours(1, 0, "ours, per-pair negatives, 1 thread(s)")
        times = interleave(candidates, rounds, warmup=0)
        rows = summarise(times, "gensim Word2Vec, 1 worker(s)")
        for row in rows:
            row["profile"] = profile
            row["analogy_accuracy"] = evaluate_analogies(vectors[row["candidate"]], vocab.words, questions)["accuracy"]
        print_rows(f"skipgram ({profile}: d={dim}, {epochs} epochs, {len(questions)} analogy questions)", rows,
                   "gensim Word2Vec, 1 worker(s)", extra=("analogy_accuracy",))
        all_rows += rows
    return all_rows


def bench_bpe(rounds: int = 3, smoke: bool = False, vocab_size: int = 4096) -> list[dict[str, Any]]:
    """Training a byte-level BPE on the course's training text: ours, HF ``tokenizers`` and SentencePiece."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from mlcourse.tokenizers.bpe import BPETokenizer
    from mlcourse.tokenizers.recipe import training_text
    from mlcourse.tokenizers.sentencepiece_tok import SentencePieceTokenizer

    text = training_text()
    if smoke:
        text, vocab_size, rounds = text[:20_000], 400, 1

    def hf() -> None:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.train_from_iterator([text], trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=["<bos>", "<eos>", "<pad>"], show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))

    candidates = {"HF tokenizers (Rust), one string": hf,
                  "ours (Python)": lambda: BPETokenizer.train(text, vocab_size),
                  "SentencePiece BPE (C++)": lambda: SentencePieceTokenizer.train(text, vocab_size, "bpe")}
    rows = summarise(interleave(candidates, rounds, warmup=0), "HF tokenizers (Rust), one string")
    print_rows(f"bpe: training {vocab_size} tokens on {len(text) / 1e6:.1f} MB", rows, "HF tokenizers (Rust), one string")
    return rows


BENCHES: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "gpt": bench_gpt, "hf": bench_hf, "compile": bench_compile, "skipgram": bench_skipgram, "bpe": bench_bpe}


def run_benches(names: list[str] | None = None, smoke: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Run the named benchmarks (all when ``names`` is empty); unknown names raise ``ValueError``."""
    names = names or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHES)}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; timings are medians of interleaved rounds")
    return {name: BENCHES[name](smoke=smoke) for name in names}
