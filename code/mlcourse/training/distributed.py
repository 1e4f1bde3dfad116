"""The one training loop on several processes: process groups from torchrun, window sharding, DDP and FSDP2.

What it does:
  * :class:`World`: who this process is (``rank`` of ``world_size``) and the few collective hooks the loop of
    :mod:`mlcourse.training.loop` calls: :meth:`World.shard` (this rank's rows of a batch), :meth:`World.mean`
    (a float averaged over ranks: the logged loss, the evaluation), :meth:`World.wrap` (DistributedDataParallel),
    :meth:`World.barrier`, and :attr:`World.is_main` (rank 0 alone logs, samples and writes checkpoints).
    :data:`SINGLE` is one process: every hook is the identity, so the single-process loop is unchanged bit for
    bit.
  * :func:`init_from_env`: reads torchrun's ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (plus ``MASTER_ADDR`` and
    ``MASTER_PORT``) and starts the process group: gloo on CPU, NCCL on CUDA (one GPU per process).
  * Deterministic sharding: every rank draws the *same* global batch of B windows from the same seeded
    generator and keeps the contiguous rows :func:`shard_bounds` gives it. Each window is seen exactly once per
    step across the ranks, the global batch is B whatever N is, and the generator's state (identical on every
    rank) is what a checkpoint stores, so a run saved with N processes resumes with any other N.
  * :func:`ring_allreduce_bytes`: what one ring all-reduce sends per device, 2 (N - 1) / N times the buffer.
  * :func:`fsdp_wrap`: FSDP2 (``torch.distributed.fsdp.fully_shard``) per decoder layer and at the root, with a
    mixed-precision policy; :func:`freeze_except` makes only some parameters trainable (LoRA on a frozen base).

What it does not do: launch processes (``torchrun`` or :mod:`mlcourse.training.ddp_train` do), tensor or
pipeline parallelism, gradient accumulation, or checkpoints of FSDP-sharded models (the loop's checkpoints are
written from a DDP or single-process model; an FSDP2 run gathers a full state dict first, which the course does
not do yet). Memory per device is computed in :mod:`mlcourse.training.parallel_memory`.

Taught in the appendix chapter 18 (Scaling out).
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


def shard_bounds(batch_size: int, rank: int, world_size: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of a global batch of ``batch_size`` that ``rank`` of ``world_size`` trains on.

    Contiguous equal blocks: rank r gets rows r * B / N .. (r + 1) * B / N. B must be divisible by N, so that
    the mean of the per-rank mean losses (what DDP's averaged gradient follows) is the mean over the batch.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank must be in 0..world_size - 1, got rank={rank}, world_size={world_size}.")
    if batch_size % world_size != 0:
        raise ValueError(f"batch_size={batch_size} is not divisible by world_size={world_size}: the ranks would "
                         f"get unequal shares and the averaged gradient would not be the batch mean. Use a "
                         f"batch_size that is a multiple of {world_size}.")
    per_rank = batch_size // world_size
    return rank * per_rank, (rank + 1) * per_rank


def shard_rows(batch: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """This rank's rows of a (B, ...) global batch: (B / N, ...), a view (no copy)."""
    start, stop = shard_bounds(batch.shape[0], rank, world_size)
    return batch[start:stop]


def ring_allreduce_bytes(buffer_bytes: float, world_size: int) -> float:
    """Bytes each device sends (and receives) in a ring all-reduce of a ``buffer_bytes`` buffer over N devices.

    A ring all-reduce is a reduce-scatter (N - 1 steps, each sending 1/N of the buffer) followed by an
    all-gather (N - 1 more such steps): 2 (N - 1) / N times the buffer, almost independent of N. One device
    sends nothing.
    """
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}.")
    return 2 * (world_size - 1) / world_size * buffer_bytes


@dataclass(frozen=True)
class World:
    """This process's place among the training processes, and the collectives the training loop needs.

    ``backend`` is ``None`` for a single process (no process group); ``"gloo"`` or ``"nccl"`` otherwise.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that logs, samples, shows progress and writes checkpoints."""
        return self.rank == 0

    @property
    def device(self) -> torch.device:
        """The device this rank computes on: its own GPU under NCCL, else the CPU."""
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a global (B, ...) batch; the batch itself for one process."""
        return batch if self.world_size == 1 else shard_rows(batch, self.rank, self.world_size)

    def mean(self, value: float) -> float:
        """``value`` averaged over the ranks (all-reduce in float64); ``value`` itself for one process."""
        if self.world_size == 1:
            return value
        total = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return float(total.item()) / self.world_size

    def barrier(self) -> None:
        """Wait until every rank gets here (nothing to wait for in one process)."""
        if self.world_size > 1:
            dist.barrier()

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model the loop steps with: ``DistributedDataParallel(model)`` on several ranks, else ``model``.

        DDP broadcasts rank 0's weights once, then all-reduces (averages) the gradients in buckets while
        ``backward`` runs, so every rank applies the same update. ``forward_sync_buffers=False``: the course's
        buffers (RoPE and position tables) are computed, never trained, so there is nothing to keep in sync.
        """
        if self.world_size == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.local_rank] if self.backend == "nccl" else None
        return DistributedDataParallel(model, device_ids=ids, forward_sync_buffers=False)


SINGLE = World()  # one process, no process group: the loop's default


def init_from_env(device: str = "auto", timeout_s: float = 120.0) -> World:
    """Start the process group torchrun describes in the environment and return this process's :class:`World`.

    Without torchrun's variables (``WORLD_SIZE`` unset or 1) it returns :data:`SINGLE` and starts nothing.
    ``device``: ``"cuda"`` (or ``"auto"`` with a GPU visible) uses NCCL and pins rank r to GPU ``LOCAL_RANK``;
    otherwise gloo on the CPU. ``timeout_s``: how long a collective waits for a missing rank before failing
    (a crashed rank then stops the others instead of hanging them).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return SINGLE
    missing = [k for k in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise RuntimeError(f"WORLD_SIZE={world_size} but {missing} are not set: launch with torchrun, e.g. "
                           "`torchrun --nproc_per_node 2 -m mlcourse.training.ddp_train --tiny`.")
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return World(rank, world_size, local_rank, backend)


def shutdown(world: World) -> None:
    """Leave the process group (call once, at the end of a distributed run)."""
    if world.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def freeze_except(model: nn.Module, trainable: Callable[[str], bool]) -> tuple[int, int]:
    """Set ``requires_grad`` to ``trainable(name)`` for every parameter; return (trainable, total) counts.

    For LoRA on a frozen base: ``freeze_except(model, lambda name: "lora_" in name)`` trains only the adapters,
    so only they get gradients and optimizer state (call it before :func:`fsdp_wrap`).
    """
    counts = [0, 0]
    for name, param in model.named_parameters():
        param.requires_grad_(trainable(name))
        counts[0] += param.numel() if param.requires_grad else 0
        counts[1] += param.numel()
    if counts[0] == 0:
        raise ValueError("no parameter is trainable: the predicate matched no name (check the adapters' names, "
                         f"e.g. {[n for n, _ in model.named_parameters()][:3]}).")
    return counts[0], counts[1]


def fsdp_wrap(model: nn.Module, *, param_dtype: torch.dtype | None = torch.bfloat16,
              reduce_dtype: torch.dtype | None = torch.float32, layers_attr: str = "layers") -> nn.Module:  # fmt: skip
    """Shard ``model`` with FSDP2 over the default process group: each of ``model.<layers_attr>`` is one unit
    (its parameters are all-gathered just before its forward and freed after), the rest (embedding, final norm,
    head) belongs to the root unit. Returns ``model`` itself, now holding DTensor parameter shards.

    Mixed precision: computation in ``param_dtype`` (bf16: half the all-gather bytes), gradients reduced in
    ``reduce_dtype`` (float32), the sharded master weights and the optimizer state stay float32. ``None``
    keeps float32. Frozen parameters (LoRA's base) are sharded too but get no gradient or optimizer state.
    """
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    if not dist.is_initialized():
        raise RuntimeError("fsdp_wrap needs a process group: call init_from_env() under torchrun first.")
    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=reduce_dtype)
    for layer in getattr(model, layers_attr):
        fully_shard(layer, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    return model
