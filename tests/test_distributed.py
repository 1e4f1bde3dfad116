"""The one training loop on two processes (gloo on CPU, launched by torchrun) against one process.

Properties checked:
  * sharding: every window of the global batch goes to exactly one rank, whatever N divides B;
  * equivalence: a 2-process DDP run logs the same loss curve as the single-process loop with the same global
    batch, within ``LOSS_TOL`` (float32 sums in another order: measured about 5e-7 here);
  * resume under another world size: the 2-process run's step-4 checkpoint, resumed in one process, continues
    the same curve;
  * a rank that dies mid-run leaves the last checkpoint intact, and resuming it in one process gives the curve
    of an uninterrupted run.
Two torchrun launches of a 2-layer model (8 steps), about 40 s on 2 CPU cores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mlcourse.training import checkpoint as ckpt
from mlcourse.training.ddp_train import train_tiny
from mlcourse.training.distributed import SINGLE, ring_allreduce_bytes, shard_bounds, shard_rows

LOSS_TOL = 1e-5  # nats; float32 reductions in a different order (2 x half-batch means vs one batch mean)
CURVE_KEYS = ("train_loss", "val_loss", "train_eval_loss", "grad_norm")


def torchrun(nproc: int, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node nproc -m mlcourse.training.ddp_train args`` (a free port is picked
    by the standalone rendezvous), one thread per process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "mlcourse.training.ddp_train", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def curve(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def max_difference(a: list[dict], b: list[dict]) -> float:
    assert [r["step"] for r in a] == [r["step"] for r in b], "the two runs logged different steps"
    gaps = [abs(x[k] - y[k]) for x, y in zip(a, b) for k in CURVE_KEYS if x[k] is not None or y[k] is not None]
    return max(gaps)


@pytest.fixture(scope="module")
def single_run(tmp_path_factory) -> Path:
    """The reference: the plain single-process loop (no process group), 8 steps, checkpoints at 4 and 8."""
    folder = tmp_path_factory.mktemp("single")
    train_tiny(folder)
    return folder


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ddp2")
    done = torchrun(2, "--tiny", "--run-dir", str(folder))
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["world_size"] == 2
    return folder


@pytest.mark.parametrize("world_size", [1, 2, 4, 8])
def test_every_window_goes_to_exactly_one_rank(world_size):
    batch = torch.arange(8)[:, None].expand(8, 5)  # (B, T + 1): row b is all b
    seen = torch.cat([shard_rows(batch, rank, world_size)[:, 0] for rank in range(world_size)])
    assert seen.tolist() == list(range(8))
    assert shard_bounds(8, world_size - 1, world_size)[1] == 8


def test_an_indivisible_batch_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="multiple of 3"):
        shard_bounds(8, 0, 3)


def test_ring_allreduce_sends_2_n_minus_1_over_n_of_the_buffer():
    assert ring_allreduce_bytes(1000, 1) == 0
    assert ring_allreduce_bytes(1000, 2) == 1000
    assert ring_allreduce_bytes(1000, 4) == 1500
    assert ring_allreduce_bytes(1000, 1000) == pytest.approx(1998)


def test_the_single_process_world_changes_nothing():
    batch = torch.randn(4, 3)
    assert SINGLE.shard(batch) is batch and SINGLE.mean(1.25) == 1.25 and SINGLE.is_main
    model = torch.nn.Linear(2, 2)
    assert SINGLE.wrap(model) is model


def test_two_processes_give_the_single_process_curve(single_run, two_process_run):
    a, b = curve(single_run), curve(two_process_run)
    assert len(a) == 9  # step 0 (evaluation only) and steps 1..8
    gap = max_difference(a, b)
    print(f"max |loss difference| 1 vs 2 processes: {gap:.2e}")
    assert gap < LOSS_TOL, f"the 2-process curve differs from the 1-process one by {gap:.2e} > {LOSS_TOL}"
    assert b[-1]["tokens_seen"] == a[-1]["tokens_seen"] == 8 * 8 * 32  # the global batch, not per rank
    assert not (two_process_run / "samples.jsonl").read_text()  # no prompts configured; rank 0's file only


def test_the_two_process_checkpoint_resumes_in_one_process(single_run, two_process_run, tmp_path):
    shutil.copytree(two_process_run / "step_4", tmp_path / "step_4")
    shutil.copy(two_process_run / "metrics.jsonl", tmp_path / "metrics.jsonl")
    result = train_tiny(tmp_path, resume=True)
    assert result.resumed_from == 4 and result.step == 8
    gap = max_difference(curve(single_run), curve(tmp_path))
    assert gap < LOSS_TOL, f"the 2 -> 1 process resumed curve differs by {gap:.2e}"


def test_a_dead_rank_leaves_the_last_checkpoint_resumable(single_run, tmp_path):
    died = torchrun(2, "--tiny", "--run-dir", str(tmp_path), "--fail-rank", "1", "--fail-after-step", "6")
    assert died.returncode != 0, "rank 1 was told to exit after step 6; torchrun should report the failure"
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step_4"]
    ckpt.read_state(tmp_path / "step_4")  # verifies the sha256 of both tensor files
    assert ckpt.latest_checkpoint(tmp_path).name == "step_4"
    result = train_tiny(tmp_path, resume=True)  # one process picks up what two left
    assert result.resumed_from == 4
    gap = max_difference(curve(single_run), curve(tmp_path))
    assert gap < LOSS_TOL, f"the resumed curve differs from an uninterrupted run by {gap:.2e}"


def test_the_runner_builds_the_torchrun_line_for_chapters_that_have_one():
    from mlcourse.course.runner import RunnerError, RunRequest, distributed_command
    from mlcourse.course.catalog import find

    command = distributed_command(RunRequest(find("p14_pretraining"), "full", {}), 4)
    assert command[1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=4",
                           "-m", "mlcourse.training.ddp_train", "--profile", "full"]
    with pytest.raises(RunnerError, match="p14_pretraining"):
        distributed_command(RunRequest(find("p12_1_attention"), "quick", {}), 2)
    with pytest.raises(RunnerError, match=">= 1"):
        distributed_command(RunRequest(find("p14_pretraining"), "quick", {}), 0)
