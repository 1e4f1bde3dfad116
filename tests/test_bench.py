"""Smoke test of the benchmark command (mlcourse.labs.bench): every benchmark runs at tiny sizes and reports a
ratio per candidate. It times nothing that CI could gate on; `python -m mlcourse bench` is the real run."""

from __future__ import annotations

import pytest
import torch

from mlcourse.__main__ import main
from mlcourse.labs.bench import ReferenceGPT, interleave, run_benches, summarise


def test_interleave_rotates_the_order_and_summarise_gives_ratio_one_for_the_reference():
    calls: list[str] = []
    times = interleave({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=2, warmup=0)
    assert calls == ["a", "b", "b", "a"] and all(len(t) == 2 for t in times.values())
    rows = {r["candidate"]: r for r in summarise(times, "a", work=10, unit="tokens")}
    assert rows["a"]["time_ratio"] == pytest.approx(1.0) and rows["a"]["time_ratio_std"] == pytest.approx(0.0)
    assert "tokens/s" in rows["b"]


def test_reference_gpt_learns_a_repeated_batch():
    torch.manual_seed(0)
    model, batch = ReferenceGPT(10, 8, 1, 2, 16), torch.randint(0, 10, (2, 9))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = model.loss(batch[:, :-1], batch[:, 1:]).item()
    for _ in range(30):
        loss = model.loss(batch[:, :-1], batch[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 2


@pytest.mark.parametrize("name", ["gpt", "hf", "bpe"])
def test_each_benchmark_runs_at_smoke_size(name):
    rows = run_benches([name], smoke=True)[name]
    assert rows and all(r["median_s"] > 0 for r in rows)
    if name == "hf":
        assert rows[0]["max_abs_logits_diff"] < 1e-5


def test_unknown_benchmark_is_an_error_naming_the_choices(capsys):
    assert main(["bench", "nope", "--smoke"]) == 2
    assert "gpt" in capsys.readouterr().err
