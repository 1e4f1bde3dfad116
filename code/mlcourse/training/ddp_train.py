"""Launch the course's one training loop under torchrun: ``python -m mlcourse.training.ddp_train``.

What it does: each process started by ``torchrun --nproc_per_node N -m mlcourse.training.ddp_train ...`` joins
the process group (:func:`mlcourse.training.distributed.init_from_env`: gloo on CPU, NCCL on GPUs), builds the
same model from the same seed and calls :func:`mlcourse.training.loop.train` with its :class:`World`; DDP
averages the gradients, rank 0 writes the logs and checkpoints. Two data sets:

  * ``--tiny``: a 2-layer model on a synthetic token stream (a seeded random Markov chain, so there is
    structure to learn and nothing to download): seconds on 2 CPU cores, for the tests and chapter 18.
  * ``--profile quick|full``: the course's base model of chapter 14 (:mod:`mlcourse.training.base_model`) into
    ``runs/p14_pretraining/<profile>/``; rank 0 then hands the finished run to ``train_base``, which finds it
    done and exports the Hugging Face copy and ``base.json`` exactly as a single-process run does.

Runs resume with ``--resume`` under any number of processes (the batch sampler's state is the same on every
rank). ``--fail-rank R --fail-after-step S`` makes rank R exit abruptly after S steps, to show (chapter 18) and
test that a crashed rank leaves the last checkpoint intact. Rank 0 prints one JSON line with the result.

What it does not do: choose N, the batch size or the device for you, or run FSDP (see ``distributed.fsdp_wrap``).

Taught in the appendix chapter 18 (Scaling out).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import torch

from mlcourse.model.transformer import TransformerConfig, TransformerLM
from mlcourse.training.distributed import World, init_from_env, shutdown
from mlcourse.training.loop import TrainConfig, TrainResult, sample_windows, train

TINY_VOCAB = 64


def tiny_stream(n_tokens: int = 40_000, vocab_size: int = TINY_VOCAB, seed: int = 0) -> torch.Tensor:
    """A 1-D stream of ``n_tokens`` ids from a seeded random Markov chain: each id is followed by one of 4 ids
    (fixed per id), so a model can learn to predict it (loss falls from ln 64 = 4.16 towards ln 4 = 1.39)."""
    generator = torch.Generator().manual_seed(seed)
    successors = torch.randint(0, vocab_size, (vocab_size, 4), generator=generator)  # (V, 4)
    choices = torch.randint(0, 4, (n_tokens,), generator=generator)  # (N,)
    table, picks, ids = successors.tolist(), choices.tolist(), [0]
    for i in range(1, n_tokens):
        ids.append(table[ids[-1]][picks[i]])
    return torch.tensor(ids, dtype=torch.long)  # (N,)


def tiny_model_config() -> TransformerConfig:
    """The tiny Mistral-style model of the tests and chapter 18 (about 30 k parameters)."""
    return TransformerConfig.mistral(vocab_size=TINY_VOCAB, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                                     max_seq_len=32)


def tiny_train_config(**overrides: Any) -> TrainConfig:
    """A short run of the tiny model: 8 steps of a global batch of 8 windows of 32 tokens, logged every step."""
    settings = dict(steps=8, batch_size=8, seq_len=32, lr=3e-3, min_lr=3e-4, warmup_steps=2, log_every=1,
                    eval_every=4, eval_batches=2, checkpoint_every=4, keep_checkpoints=3, device="cpu",
                    progress=False, sample_prompts=())
    return TrainConfig(**{**settings, **overrides})


def train_tiny(run_dir: str | Path, world: World | None = None, *, resume: bool = False, overwrite: bool = False,
               batch_fn: Any = None, **overrides: Any) -> TrainResult:  # fmt: skip
    """Train the tiny model into ``run_dir`` with ``world`` (``None``: one process), from seed 0."""
    train_ids, val_ids = tiny_stream(seed=0), tiny_stream(8_000, seed=1)
    torch.manual_seed(0)  # the same initial weights in every process (DDP also broadcasts rank 0's)
    model = TransformerLM(tiny_model_config())
    extra = {"world": world} if world is not None else {}
    return train(model, train_ids, val_ids, tiny_train_config(**overrides), run_dir, resume=resume,
                 overwrite=overwrite, batch_fn=batch_fn, **extra)


def _crash_after(rank: int, world: World, steps_done: int) -> Any:
    """A batch function that draws as the loop does, but exits this process abruptly (status 17, no clean-up,
    like a killed node) when it is rank ``rank`` and asked for the batch after ``steps_done`` steps."""
    calls = {"n": 0}

    def draw(data: torch.Tensor, batch_size: int, seq_len: int, generator: torch.Generator) -> torch.Tensor:
        calls["n"] += 1  # the first two calls draw the fixed evaluation windows
        if world.rank == rank and calls["n"] > 2 + steps_done:
            os._exit(17)
        return sample_windows(data, batch_size, seq_len, generator)

    return draw


def _train_base(profile: str, world: World, args: argparse.Namespace) -> TrainResult:
    from mlcourse.training import base_model

    folder = base_model.base_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = base_model.BASE_SETTINGS[profile]["vocab_size"]
    if world.is_main:  # rank 0 writes tokenizer.json first; the others then read it
        base_model.prepare_data(folder, vocab)
    world.barrier()
    data = base_model.prepare_data(folder, vocab)
    overrides = {"device": args.device, "progress": world.is_main}
    config = base_model.train_config(profile, **overrides)
    torch.manual_seed(config.seed)
    model = TransformerLM(base_model.model_config(profile, data.tokenizer.vocab_size))
    result = train(model, data.train_ids, data.val_ids, config, folder / "train", resume=True,
                   encode=data.tokenizer.encode, decode=data.tokenizer.decode,
                   bytes_per_token=data.val_bytes_per_token, world=world)
    world.barrier()
    if world.is_main:  # finds the run finished, then exports hf/ and writes base.json as chapter 14 does
        base_model.train_base(profile, progress=False, device=args.device)
    return result


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="torchrun --nproc_per_node N -m mlcourse.training.ddp_train",
                                     description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--tiny", action="store_true", help="the tiny model on a synthetic stream (seconds)")
    what.add_argument("--profile", choices=("quick", "full"), help="the course's base model (chapter 14)")
    parser.add_argument("--run-dir", help="with --tiny: the run folder (required)")
    parser.add_argument("--steps", type=int, help="with --tiny: training steps (default 8)")
    parser.add_argument("--batch-size", type=int, help="with --tiny: the global batch (default 8)")
    parser.add_argument("--checkpoint-every", type=int, help="with --tiny: steps between checkpoints (default 4)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    parser.add_argument("--overwrite", action="store_true", help="delete the run in --run-dir first")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--fail-rank", type=int, help="fault injection: this rank exits abruptly ...")
    parser.add_argument("--fail-after-step", type=int, help="... after this many steps")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    world = init_from_env(args.device)
    try:
        if args.profile:
            result = _train_base(args.profile, world, args)
        else:
            if not args.run_dir:
                raise SystemExit("--tiny needs --run-dir FOLDER")
            overrides = {k: v for k, v in (("steps", args.steps), ("batch_size", args.batch_size),
                                           ("checkpoint_every", args.checkpoint_every)) if v is not None}
            if args.device != "auto":
                overrides["device"] = args.device
            crash = _crash_after(args.fail_rank, world, args.fail_after_step) if args.fail_rank is not None else None
            result = train_tiny(args.run_dir, world, resume=args.resume, overwrite=args.overwrite, batch_fn=crash,
                                **overrides)
        if world.is_main:
            print(json.dumps({"world_size": world.world_size, "backend": world.backend, "step": result.step,
                              "val_loss": result.val_loss, "tokens_per_s": round(result.tokens_per_s, 1),
                              "elapsed_s": round(result.elapsed_s, 3), "resumed_from": result.resumed_from,
                              "checkpoint": str(result.checkpoint)}), flush=True)
    finally:
        shutdown(world)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
