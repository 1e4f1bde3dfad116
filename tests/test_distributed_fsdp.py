"""FSDP2 with LoRA on a frozen base (2 gloo processes) and the memory-per-device calculator.

Properties checked: the FSDP2-sharded LoRA run follows the unsharded one-process run's losses (float32 policy,
within ``LOSS_TOL``); each of 2 ranks holds half of the weights, gradients and optimizer state, and only the
adapters have gradients and optimizer state; the calculator's ZeRO stages divide exactly what they claim and its
LoRA count matches the adapters actually built. One torchrun launch, about 20 s on 2 CPU cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mlcourse.model.size import MISTRAL_7B, parameter_count
from mlcourse.model.transformer import TransformerLM
from mlcourse.training.ddp_train import tiny_model_config
from mlcourse.training.parallel_memory import fsdp_unit_params, lora_parameter_count, memory_per_device

LOSS_TOL = 1e-5


def test_fsdp2_lora_on_two_ranks_matches_one_process_and_halves_the_states():
    from mlcourse.finetune.fsdp_lora import run

    single = run()  # no torchrun variables: one process, unsharded
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "mlcourse.finetune.fsdp_lora"], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    sharded = json.loads(done.stdout.strip().splitlines()[-1])
    gap = max(abs(a - b) for a, b in zip(single["losses"], sharded["losses"]))
    assert gap < LOSS_TOL, f"FSDP2 losses differ from one process by {gap:.2e}"
    one = single["per_rank"][0]
    assert one["gradients"] == one["optimizer"] / 2 == single["trainable"] * 4  # adapters only, float32
    for rank in sharded["per_rank"]:
        for kind in ("weights", "gradients", "optimizer"):
            assert rank[kind] == pytest.approx(one[kind] / 2, rel=0.02), (kind, rank)


def test_zero_stages_divide_what_they_claim():
    p, n = 1_000_000, 4
    ddp = memory_per_device(p, n, 0)
    assert (ddp.weights, ddp.gradients, ddp.optimizer) == (4e6, 4e6, 8e6)  # 16 bytes per parameter, replicated
    assert memory_per_device(p, n, 1).optimizer == 2e6
    assert memory_per_device(p, n, 2).gradients == 1e6 and memory_per_device(p, n, 2).weights == 4e6
    full = memory_per_device(p, n, 3, gathered_params=1000)
    assert (full.weights, full.gathered) == (1e6, 2000)
    lora = memory_per_device(p, n, 0, n_trainable=10)
    assert (lora.gradients, lora.optimizer) == (40, 80)
    with pytest.raises(ValueError, match="stage"):
        memory_per_device(p, n, 4)


def test_lora_count_matches_the_adapters_built_and_mistral():
    from mlcourse.finetune.lora import ALL_LINEAR, apply_lora

    model = TransformerLM(tiny_model_config())
    apply_lora(model, ALL_LINEAR, r=4, alpha=8.0)
    built = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert built == lora_parameter_count(tiny_model_config(), 4)
    assert lora_parameter_count(MISTRAL_7B, 32) == 83_886_080
    root, layer = fsdp_unit_params(MISTRAL_7B)
    assert root + MISTRAL_7B.n_layers * layer == parameter_count(MISTRAL_7B)
