"""LoRA on a frozen base, sharded with FSDP2 across processes: ``torchrun ... -m mlcourse.finetune.fsdp_lora``.

What it does: every process builds the same tiny Mistral-style model (seed 0), puts chapter 16's LoRA adapters
on all seven projections (:func:`mlcourse.finetune.lora.apply_lora`, which freezes the base), shards it with
:func:`mlcourse.training.distributed.fsdp_wrap` (FSDP2, ``fully_shard`` per layer and at the root) and takes a
few AdamW steps with the training loop's own pieces (:func:`~mlcourse.training.loop.lm_loss`,
:func:`~mlcourse.training.loop.clip_gradients`, the window sampler, :meth:`World.shard`). It then measures what
each rank holds: the bytes of its weight shards, of its gradients and of its optimizer state, and prints one
JSON line (rank 0) with the losses and these bytes per rank. Run without torchrun (one process), it trains the
same model unsharded: the reference the sharded losses must match.

Why not the loop itself: :func:`mlcourse.training.loop.train` writes checkpoints from an unsharded model; an
FSDP2 run would first have to gather a full state dict on every rank, which the course does not do yet.
What it does not do: measure GPU memory (``--device cuda`` on a GPU machine reports
``torch.cuda.max_memory_allocated`` too), or load Mistral 7B (chapter 16's code does, by name).

Taught in the appendix chapter 18 (Scaling out); LoRA itself in chapter 16.
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.distributed as dist

from mlcourse.finetune.lora import ALL_LINEAR, apply_lora
from mlcourse.model.transformer import TransformerLM
from mlcourse.training.ddp_train import tiny_model_config, tiny_stream
from mlcourse.training.distributed import fsdp_wrap, init_from_env, shutdown
from mlcourse.training.loop import clip_gradients, lm_loss, sample_windows


def _local_bytes(tensors) -> int:
    """Bytes this rank stores for ``tensors`` (a DTensor counts its local shard only)."""
    total = 0
    for t in tensors:
        local = t.to_local() if hasattr(t, "to_local") else t
        total += local.numel() * local.element_size()
    return total


def run(steps: int = 4, batch_size: int = 8, seq_len: int = 32, r: int = 4, bf16: bool = False,
        device: str = "cpu") -> dict:  # fmt: skip
    """Train the LoRA adapters for ``steps`` steps on this process's share; return losses and bytes held."""
    world = init_from_env(device)
    torch.manual_seed(0)
    model = TransformerLM(tiny_model_config())
    apply_lora(model, ALL_LINEAR, r=r, alpha=2.0 * r)  # freezes the base; the adapters alone are trainable
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    model.to(world.device)
    if world.world_size > 1:
        fsdp_wrap(model, param_dtype=torch.bfloat16 if bf16 else None)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    generator, ids = torch.Generator().manual_seed(0), tiny_stream(8_000)
    losses = []
    for _ in range(steps):
        window = world.shard(sample_windows(ids, batch_size, seq_len, generator)).to(world.device)
        loss = lm_loss(model, window, None)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(model, 1.0)
        optimizer.step()
        losses.append(world.mean(loss.item()))
    held = {"rank": world.rank,
            "weights": _local_bytes(model.parameters()),
            "gradients": _local_bytes(p.grad for p in model.parameters() if p.grad is not None),
            "optimizer": _local_bytes(v for s in optimizer.state.values() for v in s.values()
                                      if torch.is_tensor(v) and v.dim() > 0)}
    if world.device.type == "cuda":
        held["cuda_max_allocated"] = torch.cuda.max_memory_allocated()
    per_rank = [held]
    if world.world_size > 1:
        per_rank = [None] * world.world_size
        dist.all_gather_object(per_rank, held)
    shutdown(world)
    return {"world_size": world.world_size, "losses": losses, "trainable": trainable, "total": total,
            "per_rank": per_rank, "is_main": world.is_main}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="torchrun --nproc_per_node N -m mlcourse.finetune.fsdp_lora",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--r", type=int, default=4, help="LoRA rank")
    parser.add_argument("--bf16", action="store_true", help="compute in bf16 (FSDP2 mixed-precision policy)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args(argv)
    result = run(args.steps, r=args.r, bf16=args.bf16, device=args.device)
    if result.pop("is_main"):
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
