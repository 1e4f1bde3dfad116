"""Tests of mlcourse.checks.p18_scaling_out: the checks pass the library's answers, report an untouched stub as
not attempted, and name the typical mistakes (a per-rank batch of B, one row per rank, an inclusive stop,
blocks in reverse rank order, no divisibility check; one phase of the ring, no division by N, 2x the buffer)."""

from __future__ import annotations

from check_helpers import clear_output, fails_with, stub  # noqa: F401  (clear_output is an autouse fixture)

from mlcourse.checks import p18_scaling_out as checks
from mlcourse.training.distributed import ring_allreduce_bytes, shard_bounds


def test_untouched_stubs_read_as_not_attempted(capsys):
    assert checks.check_shard_bounds(stub).status == "not attempted"
    assert checks.check_ring_bytes(stub).status == "not attempted"
    assert "not attempted yet" in capsys.readouterr().out


def test_the_library_answers_pass():
    assert checks.check_shard_bounds(shard_bounds, verbose=False)
    assert checks.check_ring_bytes(ring_allreduce_bytes, verbose=False)


def test_a_per_rank_batch_of_b_is_named(capsys):
    verdict = checks.check_shard_bounds(lambda b, r, n: (r * b, (r + 1) * b))
    fails_with(capsys, verdict, "Each rank takes B / N")


def test_one_row_per_rank_is_named(capsys):
    verdict = checks.check_shard_bounds(lambda b, r, n: (r, r + 1))
    fails_with(capsys, verdict, "a block of B / N rows, not one row")


def test_an_inclusive_stop_is_named(capsys):
    verdict = checks.check_shard_bounds(lambda b, r, n: (r * (b // n), (r + 1) * (b // n) - 1))
    fails_with(capsys, verdict, "stop is exclusive")


def test_blocks_in_the_wrong_rank_order_get_the_rule(capsys):
    verdict = checks.check_shard_bounds(lambda b, r, n: ((n - 1 - r) * (b // n), (n - r) * (b // n)))
    fails_with(capsys, verdict, "contiguous rows r * B / N")


def test_a_missing_divisibility_check_is_named(capsys):
    verdict = checks.check_shard_bounds(lambda b, r, n: (r * (b // n), (r + 1) * (b // n)))
    fails_with(capsys, verdict, "should raise ValueError")


def test_one_phase_of_the_ring_is_named(capsys):
    verdict = checks.check_ring_bytes(lambda g, n: (n - 1) / n * g)
    fails_with(capsys, verdict, "the all-gather sends as much again")


def test_no_division_by_n_is_named(capsys):
    verdict = checks.check_ring_bytes(lambda g, n: 2 * (n - 1) * g)
    fails_with(capsys, verdict, "one chunk of buffer / N")


def test_twice_the_buffer_is_named(capsys):
    verdict = checks.check_ring_bytes(lambda g, n: 2 * g)
    fails_with(capsys, verdict, "N = 1 sends nothing")
