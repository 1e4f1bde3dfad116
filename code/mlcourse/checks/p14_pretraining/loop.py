"""Checks for chapter 14's exercises on the training loop: the learner's loop against the library's ``train``, and a
save / kill / resume round trip that must end with the same weights as an uninterrupted run.

:func:`check_training_loop` trains one tiny model (2 layers, width 32, residual dropout 0.1, a synthetic Markov
token stream) twice from the same weights, the same seed and the same batches: with the learner's loop and with
:func:`mlcourse.training.loop.train`, and compares every step's training loss and every evaluation within
:data:`TOLERANCE` nats. When they differ, it replays the reference loop with each typical bug switched on
(:data:`LOOP_BUGS`: decay on norms, a schedule one step off, no clipping, ...) and names the one whose curve
the learner's matches. :func:`check_resume` runs the same tiny training uninterrupted, and again stopped half-way,
saved with the learner's ``save``, thrown away and loaded with the learner's ``load`` into a fresh model, optimizer
and sampler, then continued: the final weights must be equal, bit for bit; each missing piece of state is named.

What it does not do: check the learner's code for speed, logging, or files it writes (any format will do).
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mlcourse.checks.core import Verdict, expect, run_check
from mlcourse.model.transformer import TransformerConfig, TransformerLM
from mlcourse.training.loop import TrainConfig, lm_loss, sample_windows, train
from mlcourse.training.lr_schedule import lr_at, parameter_groups

TOLERANCE = 1e-4  # nats per token: float noise is ~1e-7 here, the smallest bug below moves the curve by > 1e-3
CONFIG = TrainConfig(steps=24, batch_size=8, seq_len=16, lr=1e-2, min_lr=1e-3, warmup_steps=4, weight_decay=0.5,
                     grad_clip=0.5, eval_every=8, eval_batches=2, log_every=1, checkpoint_every=24,
                     keep_checkpoints=1, seed=3, device="cpu", progress=False)
DROPOUT_SEED = 123  # torch's global RNG (dropout masks) is seeded with this before each run

LOOP_BUGS = {
    "decay_all": "weight decay is applied to every tensor, norm gains and biases too; give the tensors with dim < 2 "
                 "a group with weight_decay=0 (the library's parameter_groups)",
    "no_decay": "the matrices get no weight decay; tensors with dim >= 2 (linear layers, embeddings) take "
                "config.weight_decay",
    "lr_ahead": "the schedule is one step ahead; optimizer step s (0-based) uses lr_at(s), so the first update uses "
                "max_lr / warmup_steps",
    "lr_late": "the learning rate is set after optimizer.step(); set every group's lr for this step before the update",
    "no_clip": "the gradients are not clipped; call torch.nn.utils.clip_grad_norm_(model.parameters(), "
               "config.grad_clip) between backward() and optimizer.step()",
    "no_zero_grad": "the gradients accumulate from step to step; call optimizer.zero_grad() before backward()",
    "betas": "AdamW runs with PyTorch's default betas (0.9, 0.999); pass betas=config.betas",
    "eval_in_train_mode": "the evaluation runs in training mode, with dropout on; call model.eval() to evaluate",
    "stays_in_eval": "after an evaluation the model stays in eval mode, so training goes on without dropout; call "
                     "model.train() after evaluating",
}

TrainFn = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, TrainConfig], dict]


def tiny_data(seed: int = 0, vocab: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and validation streams (6,000 and 1,500 ids) of a random sparse Markov chain: learnable, not trivial."""
    g = torch.Generator().manual_seed(seed)
    transitions = torch.rand(vocab, vocab, generator=g).pow(6)  # (V, V): a few likely successors per token
    ids = [0]
    for _ in range(7_499):
        ids.append(int(torch.multinomial(transitions[ids[-1]], 1, generator=g)))
    stream = torch.tensor(ids)
    return stream[:6_000], stream[6_000:]


def tiny_model(seed: int = 0, vocab: int = 48) -> TransformerLM:
    """The checks' model: Mistral-style, 2 layers, width 32, residual dropout 0.1 (so eval vs train mode matters)."""
    torch.manual_seed(seed)
    return TransformerLM(TransformerConfig.mistral(vocab_size=vocab, d_model=32, n_layers=2, n_heads=4,
                                                   max_seq_len=CONFIG.seq_len, resid_dropout=0.1))


def eval_steps(c: TrainConfig) -> list[int]:
    """The steps after which a loop evaluates: 0 (before training), every eval_every, and the last."""
    return sorted({0, c.steps, *range(c.eval_every, c.steps + 1, c.eval_every)})


def reference_train(model: torch.nn.Module, train_ids: torch.Tensor, val_ids: torch.Tensor, c: TrainConfig,
                    bug: str | None = None) -> dict[str, Any]:
    """The loop the learner writes, in 30 lines; ``bug`` switches on one of :data:`LOOP_BUGS`.

    Returns ``{"train_loss": [loss of each step], "val_loss": {step: mean validation loss}}``.
    """
    groups = parameter_groups(model, c.weight_decay)
    if bug == "decay_all":
        groups = [{"params": list(model.parameters()), "weight_decay": c.weight_decay}]
    elif bug == "no_decay":
        groups[0]["weight_decay"] = 0.0
    optimizer = torch.optim.AdamW(groups, lr=c.lr, betas=(0.9, 0.999) if bug == "betas" else tuple(c.betas))
    sampler = torch.Generator().manual_seed(c.seed)  # the order of the training batches
    val_windows = sample_windows(val_ids, c.eval_batches * c.batch_size, c.seq_len,
                                 torch.Generator().manual_seed(c.seed + 1))  # (N, T + 1), fixed

    def evaluate() -> float:
        if bug != "eval_in_train_mode":
            model.eval()
        with torch.no_grad():
            losses = [lm_loss(model, val_windows[i:i + c.batch_size], None).item()
                      for i in range(0, len(val_windows), c.batch_size)]
        if bug != "stays_in_eval":
            model.train()
        return sum(losses) / len(losses)

    def set_lr(step: int) -> None:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, max_lr=c.lr, min_lr=c.min_lr, warmup_steps=c.warmup_steps, total_steps=c.steps)

    model.train()
    out: dict[str, Any] = {"train_loss": [], "val_loss": {0: evaluate()}}
    for step in range(c.steps):
        if bug != "lr_late":
            set_lr(step + 1 if bug == "lr_ahead" else step)
        window = sample_windows(train_ids, c.batch_size, c.seq_len, sampler)  # (B, T + 1)
        loss = lm_loss(model, window, None)
        if bug != "no_zero_grad":
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if bug != "no_clip" and c.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), c.grad_clip)
        optimizer.step()
        if bug == "lr_late":
            set_lr(step)
        out["train_loss"].append(loss.item())
        if step + 1 in eval_steps(c):
            out["val_loss"][step + 1] = evaluate()
    return out


def library_curve(model: torch.nn.Module, train_ids: torch.Tensor, val_ids: torch.Tensor, c: TrainConfig
                  ) -> dict[str, Any]:  # fmt: skip
    """The same curve from :func:`mlcourse.training.loop.train` (``log_every=1``: one row per step)."""
    with tempfile.TemporaryDirectory() as run_dir:
        result = train(model, train_ids, val_ids, c, run_dir)
    rows = result.metrics
    return {"train_loss": [r["train_loss"] for r in rows if r["train_loss"] is not None],
            "val_loss": {r["step"]: r["val_loss"] for r in rows if r["val_loss"] is not None}}


def _curve(fn: Callable[..., dict], model: torch.nn.Module, *args: Any, **kwargs: Any) -> dict[str, Any]:
    torch.manual_seed(DROPOUT_SEED)
    return fn(copy.deepcopy(model), *args, **kwargs)


def _distance(a: dict[str, Any], b: dict[str, Any]) -> float:
    if len(a["train_loss"]) != len(b["train_loss"]) or set(a["val_loss"]) != set(b["val_loss"]):
        return float("inf")
    diffs = [abs(x - y) for x, y in zip(a["train_loss"], b["train_loss"])]
    diffs += [abs(a["val_loss"][s] - b["val_loss"][s]) for s in a["val_loss"]]
    return max(diffs, default=0.0)


def check_training_loop(fn: TrainFn, verbose: bool = True) -> Verdict:
    """``fn(model, train_ids, val_ids, config)`` must return ``{"train_loss": [...], "val_loss": {step: loss}}`` equal
    to the library's ``train`` on the same tiny run within :data:`TOLERANCE` nats; a mismatch names the bug."""

    def check() -> str:
        train_ids, val_ids = tiny_data()
        model = tiny_model()
        got = _curve(fn, model, train_ids, val_ids, CONFIG)  # first: an unwritten stub stops here, at no cost
        expected = _curve(library_curve, model, train_ids, val_ids, CONFIG)
        expect(isinstance(got, dict) and {"train_loss", "val_loss"} <= set(got),
               f"expected a dict with 'train_loss' (one float per step) and 'val_loss' ({{step: loss}}), got "
               f"{type(got).__name__}{' with keys ' + str(sorted(got)) if isinstance(got, dict) else ''}")
        got = {"train_loss": [float(x) for x in got["train_loss"]],
               "val_loss": {int(k): float(v) for k, v in dict(got["val_loss"]).items()}}
        expect(len(got["train_loss"]) == CONFIG.steps,
               f"expected {CONFIG.steps} training losses (one per step), got {len(got['train_loss'])}")
        expect(sorted(got["val_loss"]) == eval_steps(CONFIG),
               f"expected evaluations after steps {eval_steps(CONFIG)} (0 = before training, every eval_every, "
               f"the last), got steps {sorted(got['val_loss'])}")
        if _distance(got, expected) <= TOLERANCE:
            return (f"{CONFIG.steps} steps and {len(eval_steps(CONFIG))} evaluations within {TOLERANCE:g} nats of "
                    "the library's train")
        first = next(i for i, (x, y) in enumerate(zip(got["train_loss"], expected["train_loss"]))
                     if abs(x - y) > TOLERANCE) if _distance({**got, "val_loss": {}},
                                                             {**expected, "val_loss": {}}) > TOLERANCE else None
        where = (f"training losses agree up to step {first} (0-based), then expected {expected['train_loss'][first]:.5f}, "
                 f"got {got['train_loss'][first]:.5f}" if first is not None else
                 "training losses agree, some evaluations do not")
        for bug, hint in LOOP_BUGS.items():
            if _distance(got, _curve(reference_train, model, train_ids, val_ids, CONFIG, bug=bug)) <= TOLERANCE:
                expect(False, f"{where}: {hint}")
        v0, e0 = got["val_loss"][0], expected["val_loss"][0]
        expect(abs(v0 - e0) <= TOLERANCE,
               f"the evaluation before training gives {v0:.5f}, expected {e0:.5f}: evaluate on sample_windows(val_ids, "
               "eval_batches * batch_size, seq_len, torch.Generator().manual_seed(seed + 1)), batch_size windows at a "
               "time, in eval mode, and average the batch losses")
        t0, te0 = got["train_loss"][0], expected["train_loss"][0]
        expect(abs(t0 - te0) <= TOLERANCE,
               f"the first training loss is {t0:.5f}, expected {te0:.5f}: draw each batch with sample_windows(train_ids, "
               "batch_size, seq_len, sampler), sampler = torch.Generator().manual_seed(config.seed), in training mode")
        expect(False, f"{where}; none of the usual bugs matches: compare your step with the library's, line by line")
        return ""

    return run_check("your training loop reproduces the library's loss curve", check, verbose=verbose)


# ---- save, kill, resume ------------------------------------------------------------------------------------------
SaveFn = Callable[[Path, torch.nn.Module, torch.optim.Optimizer, torch.Generator, int], None]
LoadFn = Callable[[Path, torch.nn.Module, torch.optim.Optimizer, torch.Generator], int]


def _steps(model: torch.nn.Module, optimizer: torch.optim.Optimizer, sampler: torch.Generator, train_ids: torch.Tensor,
           start: int, stop: int, c: TrainConfig = CONFIG) -> None:  # fmt: skip
    """Training steps start .. stop - 1 of the reference loop (no evaluation)."""
    model.train()
    for step in range(start, stop):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, max_lr=c.lr, min_lr=c.min_lr, warmup_steps=c.warmup_steps, total_steps=c.steps)
        loss = lm_loss(model, sample_windows(train_ids, c.batch_size, c.seq_len, sampler), None)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), c.grad_clip)
        optimizer.step()


def _fresh(seed: int) -> tuple[TransformerLM, torch.optim.Optimizer, torch.Generator]:
    model = tiny_model(seed)
    optimizer = torch.optim.AdamW(parameter_groups(model, CONFIG.weight_decay), lr=CONFIG.lr, betas=CONFIG.betas)
    return model, optimizer, torch.Generator().manual_seed(CONFIG.seed)


def check_resume(save: SaveFn, load: LoadFn, verbose: bool = True) -> Verdict:
    """``save(folder, model, optimizer, sampler, step)`` then ``load(folder, model, optimizer, sampler) -> step`` into
    a fresh model, optimizer and sampler (and a scrambled global RNG) must continue the run exactly: the final weights
    equal those of an uninterrupted run. Each piece of state that did not come back is named."""

    def check() -> str:
        train_ids, _ = tiny_data()
        half = CONFIG.steps // 2
        model, optimizer, sampler = _fresh(0)
        torch.manual_seed(DROPOUT_SEED)
        _steps(model, optimizer, sampler, train_ids, 0, CONFIG.steps)  # the uninterrupted run
        expected = {k: v.clone() for k, v in model.state_dict().items()}

        model, optimizer, sampler = _fresh(0)
        torch.manual_seed(DROPOUT_SEED)
        _steps(model, optimizer, sampler, train_ids, 0, half)
        saved_weights = {k: v.clone() for k, v in model.state_dict().items()}
        saved_moments = [s["exp_avg"].clone() for s in optimizer.state.values()]
        saved_sampler, saved_rng = sampler.get_state().clone(), torch.get_rng_state().clone()
        with tempfile.TemporaryDirectory() as folder:
            save(Path(folder), model, optimizer, sampler, half)
            del model, optimizer, sampler  # the process is killed: only the files survive
            model, optimizer, sampler = _fresh(1)  # other initial weights, a fresh optimizer and sampler
            sampler.manual_seed(999)
            torch.manual_seed(999)  # the new process's RNG is not the old one's
            step = load(Path(folder), model, optimizer, sampler)
        expect(isinstance(step, int) and step == half,
               f"load returned {step!r}, expected the saved step {half}: save the step and return it (the schedule "
               "and the data order continue from it)")
        wrong = [k for k, v in model.state_dict().items() if not torch.equal(v, saved_weights[k])]
        expect(not wrong, f"after load the model's weights differ from the saved ones ({wrong[:2]}): save "
               "model.state_dict() and load it with model.load_state_dict")
        moments = [s.get("exp_avg") for s in optimizer.state.values()]
        expect(len(moments) == len(saved_moments) and all(m is not None and torch.equal(m, s)
                                                          for m, s in zip(moments, saved_moments)),
               "AdamW's moment estimates (exp_avg, exp_avg_sq, step) were not restored, so the first updates after "
               "the resume are too large: save optimizer.state_dict() and load it with optimizer.load_state_dict")
        expect(torch.equal(sampler.get_state(), saved_sampler),
               "the data sampler was not restored, so the resumed run draws other batches than the uninterrupted "
               "one: save sampler.get_state() and call sampler.set_state(...) on load")
        expect(torch.equal(torch.get_rng_state(), saved_rng),
               "torch's global random state was not restored, so dropout draws other masks after the resume: save "
               "torch.get_rng_state() and call torch.set_rng_state(...) on load")
        _steps(model, optimizer, sampler, train_ids, step, CONFIG.steps)
        wrong = [k for k, v in model.state_dict().items() if not torch.equal(v, expected[k])]
        expect(not wrong, f"the resumed run ends with other weights than the uninterrupted one ({wrong[:2]})")
        return f"stopped after step {half} of {CONFIG.steps}, resumed, final weights bit-identical"

    return run_check("save, kill, resume: the same final weights", check, verbose=verbose)

