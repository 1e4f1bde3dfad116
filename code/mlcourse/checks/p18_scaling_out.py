"""Checks for the exercises of the appendix chapter 18 (scaling out).

* :func:`check_shard_bounds`: the learner's ``bounds_fn(batch_size, rank, world_size)`` must return the
  contiguous rows ``(start, stop)`` of :func:`mlcourse.training.distributed.shard_bounds` for every rank of
  several world sizes (each window to exactly one rank, in order) and refuse a batch that N does not divide.
  Wrong answers are matched against the usual mistakes (interleaved rows, a per-rank batch of B instead of B/N,
  an inclusive stop) so that the verdict names the fix.
* :func:`check_ring_bytes`: ``bytes_fn(buffer_bytes, world_size)`` must equal
  :func:`mlcourse.training.distributed.ring_allreduce_bytes`, 2 (N - 1) / N times the buffer, to 1e-9
  relative; the verdict recognises (N - 1) / N (only one of the two phases), 2 (N - 1) (no division by N) and
  2 x the buffer (no (N - 1) / N).

What it does not do: grade the open questions (why 2 processes are not faster on 2 cores); their worked answers
are in the solutions notebook.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from mlcourse.checks.core import Verdict, expect, run_check
from mlcourse.training.distributed import ring_allreduce_bytes, shard_bounds

CASES = [(8, 1), (8, 2), (8, 4), (12, 3), (16, 8), (6, 6)]  # (global batch B, world size N)


def check_shard_bounds(bounds_fn: Callable[[int, int, int], tuple[int, int]], verbose: bool = True) -> Verdict:
    """``bounds_fn(batch_size, rank, world_size)`` -> ``(start, stop)``, and ``ValueError`` when N does not
    divide B."""

    def check() -> str:
        for batch_size, world_size in CASES:
            per_rank = batch_size // world_size
            for rank in range(world_size):
                want = shard_bounds(batch_size, rank, world_size)
                got = bounds_fn(batch_size, rank, world_size)
                expect(isinstance(got, tuple) and len(got) == 2,
                       f"expected a tuple (start, stop), got {got!r} for B={batch_size}, rank={rank}, N={world_size}")
                got = (int(got[0]), int(got[1]))
                if got == want:
                    continue
                where = f"B={batch_size}, rank={rank}, N={world_size}: expected {want}, got {got}"
                expect(got != (rank * batch_size, (rank + 1) * batch_size),
                       f"{where}. Each rank takes B / N = {per_rank} rows, not B: the global batch is fixed "
                       "whatever N is")
                expect(got != (rank, rank + 1) or per_rank == 1,
                       f"{where}. A rank takes a block of B / N rows, not one row")
                expect(got != (rank * per_rank, (rank + 1) * per_rank - 1),
                       f"{where}. stop is exclusive (Python slices): rows start .. stop - 1")
                expect(False, f"{where}. Rank r takes the contiguous rows r * B / N up to (r + 1) * B / N")
        try:
            bounds_fn(8, 0, 3)
        except ValueError:
            pass
        else:
            expect(False, "B=8 with N=3 should raise ValueError: the ranks would get unequal shares and the "
                          "averaged gradient would not be the mean over the batch")
        return f"{len(CASES)} world sizes, every rank: each window goes to exactly one rank; B=8, N=3 refused"

    return run_check("window sharding", check, verbose=verbose)


def check_ring_bytes(bytes_fn: Callable[[float, int], float], verbose: bool = True) -> Verdict:
    """``bytes_fn(buffer_bytes, world_size)`` -> bytes each device sends in a ring all-reduce."""

    def check() -> str:
        buffer, sizes = 8_000_000.0, (1, 2, 3, 4, 8, 64)
        got = {n: float(bytes_fn(buffer, n)) for n in sizes}
        wrong = [n for n in sizes if not math.isclose(got[n], ring_allreduce_bytes(buffer, n), rel_tol=1e-9,
                                                      abs_tol=1e-9)]
        if not wrong:
            return "2 (N - 1) / N x the buffer for N = 1, 2, 3, 4, 8, 64"
        n = wrong[0]
        where = (f"N={n}, buffer {buffer:.0f} bytes: expected {ring_allreduce_bytes(buffer, n):.0f}, "
                 f"got {got[n]:.0f}")

        def everywhere(formula: Callable[[int], float]) -> bool:  # the learner's values follow this mistake
            return all(math.isclose(got[m], formula(m), rel_tol=1e-9, abs_tol=1e-9) for m in sizes)

        expect(not everywhere(lambda m: (m - 1) / m * buffer),
               f"{where}. That is one phase (the reduce-scatter); the all-gather sends as much again")
        expect(not everywhere(lambda m: 2 * (m - 1) * buffer),
               f"{where}. Each of the 2 (N - 1) steps sends one chunk of buffer / N, not the whole buffer")
        expect(not everywhere(lambda m: 2 * buffer),
               f"{where}. With N devices a device sends 2 (N - 1) chunks of buffer / N: N = 1 sends nothing")
        expect(False, f"{where}. A ring all-reduce sends 2 (N - 1) / N times the buffer per device")
        return ""

    return run_check("ring all-reduce bytes", check, verbose=verbose)
