"""Memory per device of data-parallel training: DDP and the ZeRO stages of FSDP, with or without LoRA.

What it does:
  * :func:`memory_per_device`: bytes one device holds for the *model states* of a training run on N devices:
    weights, gradients and AdamW's two moments (plus a float32 master copy when the weights are kept in a
    16-bit type). The ZeRO stages say what is split N ways instead of replicated:

    ======  ==============================  =========================================
    stage   what is sharded across N        the course's name for it
    ======  ==============================  =========================================
    0       nothing                         DDP
    1       optimizer state                 ZeRO-1
    2       optimizer state + gradients     ZeRO-2 (FSDP ``reshard_after_forward=False``)
    3       + the weights themselves        ZeRO-3 (FSDP2 ``fully_shard``)
    ======  ==============================  =========================================

    Stage 3 also holds, for a moment, one unit's weights all-gathered in the compute dtype (two units with
    prefetching): ``gathered_params``.
  * :func:`lora_parameter_count`: the adapter parameters r (in + out) of every adapted linear map of a
    :class:`~mlcourse.model.transformer.TransformerConfig` (Mistral's names ``q_proj`` ... ``down_proj``).

Only trainable parameters have gradients and optimizer state: LoRA on a frozen base shrinks both to the
adapters. What it does not do: activations (they depend on batch, sequence length and checkpointing), the
communication buffers, the CUDA context or the allocator's fragmentation (measure with
``torch.cuda.max_memory_allocated`` on a GPU), nor tensor or pipeline parallelism.

Taught in the appendix chapter 18 (Scaling out), which applies it to the course's base model and to Mistral 7B.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from mlcourse.model.transformer import TransformerConfig

GIB = 2**30
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class DeviceMemory:
    """Bytes per device, by kind of model state; ``total`` is their sum (activations not included)."""

    weights: float
    gradients: float
    optimizer: float
    gathered: float  # stage 3 only: the all-gathered unit(s) in the compute dtype

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.gathered

    def gib(self) -> dict[str, float]:
        """The same numbers in GiB (2^30 bytes), rounded to 0.01, with the total."""
        return {k: round(v / GIB, 2) for k, v in {**asdict(self), "total": self.total}.items()}


def memory_per_device(n_params: int, world_size: int, stage: int, *, n_trainable: int | None = None,
                      weight_bytes: int = 4, grad_bytes: int = 4, adam_bytes: int = 8, master_bytes: int = 0,
                      gathered_params: int = 0, compute_bytes: int = 2) -> DeviceMemory:  # fmt: skip
    """Model-state memory of one device out of ``world_size`` at ZeRO ``stage`` (0 = DDP ... 3 = FSDP full shard).

    ``n_params`` weights of ``weight_bytes`` each (4: float32, 2: bf16); ``n_trainable`` of them (default all)
    have a gradient of ``grad_bytes``, AdamW's two moments (``adam_bytes`` = 2 x 4) and, when the weights are
    16-bit, a float32 master copy (``master_bytes`` = 4). Stage >= 1 divides the optimizer state (moments and
    master) by N, stage >= 2 the gradients, stage 3 the weights; stage 3 adds ``gathered_params`` x
    ``compute_bytes`` for the unit(s) all-gathered during forward and backward.
    """
    if stage not in (0, 1, 2, 3):
        raise ValueError(f"stage must be 0 (DDP), 1, 2 or 3 (ZeRO stages), got {stage!r}.")
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}.")
    trainable = n_params if n_trainable is None else n_trainable
    if not 0 <= trainable <= n_params:
        raise ValueError(f"n_trainable={trainable} must be between 0 and n_params={n_params}.")
    n = world_size
    weights = n_params * weight_bytes / (n if stage >= 3 else 1)
    gradients = trainable * grad_bytes / (n if stage >= 2 else 1)
    optimizer = trainable * (adam_bytes + master_bytes) / (n if stage >= 1 else 1)
    gathered = gathered_params * compute_bytes if stage >= 3 and n > 1 else 0.0
    return DeviceMemory(weights, gradients, optimizer, gathered)


def lora_parameter_count(config: TransformerConfig, r: int, targets: Sequence[str] = LORA_TARGETS) -> int:
    """Adapter parameters of LoRA with rank ``r`` on the ``targets`` linear maps of every layer: r (in + out)
    each (A is (r, in), B is (out, r)). Mistral 7B, all seven maps, r = 32: 83,886,080 (1.16 % of the model)."""
    if r < 1:
        raise ValueError(f"LoRA rank r must be >= 1, got {r}.")
    d, d_q, d_kv, d_ff = config.d_model, config.n_heads * config.d_head, config.kv_heads * config.d_head, config.ff_dim
    shapes = {"q_proj": (d, d_q), "k_proj": (d, d_kv), "v_proj": (d, d_kv), "o_proj": (d_q, d),
              "gate_proj": (d, d_ff), "up_proj": (d, d_ff), "down_proj": (d_ff, d)}  # (in, out)
    unknown = [t for t in targets if t not in shapes]
    if unknown:
        raise ValueError(f"unknown LoRA targets {unknown}; choose from {list(shapes)}.")
    if config.ffn != "swiglu" and ("gate_proj" in targets):
        raise ValueError("gate_proj exists only in SwiGLU models (ffn='swiglu').")
    return config.n_layers * sum(r * (shapes[t][0] + shapes[t][1]) for t in targets)


def fsdp_unit_params(config: TransformerConfig) -> tuple[int, int]:
    """(root, layer): the parameters of FSDP's root unit (embedding, final norm, head) and of one decoder layer,
    as :func:`~mlcourse.training.distributed.fsdp_wrap` groups them. During a step the root unit stays gathered
    and one layer is gathered while the next is prefetched: ``gathered_params = root + 2 * layer``."""
    d, d_q, d_kv, d_ff = config.d_model, config.n_heads * config.d_head, config.kv_heads * config.d_head, config.ff_dim
    n_in = 2 if config.ffn == "swiglu" else 1
    layer = d * d_q + 2 * d * d_kv + d_q * d + n_in * d * d_ff + d_ff * d + 2 * d  # projections + two norms
    root = config.vocab_size * d * (1 if config.tie_embeddings else 2) + d  # embedding (+ head) + final norm
    return root, layer
