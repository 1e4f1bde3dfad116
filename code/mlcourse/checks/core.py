"""Run an exercise check and print one verdict line: passed, failed (expected vs got), or not attempted yet.

A check is a function of no arguments that calls the learner's code, compares with a reference using the
``expect*`` helpers below, and returns an optional short note. :func:`run_check` turns what happens into a
:class:`Verdict`:

* the body returns                      -> ``✓ passed: <title>``
* an ``expect*`` helper raises          -> ``✗ failed: <title>: expected ..., got ...`` (shapes, max abs difference)
* the learner's stub raises NotImplementedError -> ``… not attempted yet: <title>``, so an exercises notebook
  whose stubs are untouched still runs top to bottom (in CI too) without an error
* any other exception in the learner's code -> ``✗ failed`` naming the exception

Pass messages never contain measured numbers, so a notebook cell that runs a check can carry the
``nbval-check-output`` cell tag (nbval then compares its printed verdict). This module knows nothing about any
chapter; chapter checks live beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

Status = Literal["passed", "failed", "not attempted"]
_SYMBOL = {"passed": "✓ passed", "failed": "✗ failed", "not attempted": "… not attempted yet"}


class CheckFailed(AssertionError):
    """Raised inside a check when the learner's result is wrong; the message says what was expected and got."""


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check. Truthy only when it passed."""

    title: str
    status: Status
    detail: str = ""

    def __bool__(self) -> bool:
        return self.status == "passed"

    def _ipython_display_(self) -> None:
        """Show nothing in a notebook: :func:`run_check` has already printed the verdict line."""

    def line(self) -> str:
        """The one line printed for the learner, e.g. ``✗ failed: causal mask: expected ..., got ...``."""
        return f"{_SYMBOL[self.status]}: {self.title}" + (f": {self.detail}" if self.detail else "")


def run_check(title: str, check: Callable[[], str | None], *, verbose: bool = True) -> Verdict:
    """Run ``check()``, print its verdict line (unless ``verbose=False``) and return the :class:`Verdict`.

    ``check`` returns ``None`` or a short, deterministic note appended to the pass line.
    """
    try:
        note = check()
        verdict = Verdict(title, "passed", note or "")
    except NotImplementedError:
        verdict = Verdict(title, "not attempted", "the function still raises NotImplementedError; fill it in")
    except CheckFailed as err:
        verdict = Verdict(title, "failed", str(err))
    except Exception as err:  # noqa: BLE001 - the learner's code crashed: report it, do not stop the notebook
        verdict = Verdict(title, "failed", f"your code raised {type(err).__name__}: {err}")
    if verbose:
        print(verdict.line())
    return verdict


def expect(condition: bool, message: str) -> None:
    """Fail the check with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


def expect_shape(name: str, got: object, shape: tuple[int, ...]) -> None:
    """Fail unless ``got`` is a tensor of exactly ``shape``."""
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"expected {name} to be a tensor of shape {shape}, got {type(got).__name__}")
    if tuple(got.shape) != tuple(shape):
        raise CheckFailed(f"expected {name} of shape {tuple(shape)}, got shape {tuple(got.shape)}")


def expect_close(
    name: str,
    got: object,
    expected: torch.Tensor,
    *,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    context: str = "",
) -> None:
    """Fail unless ``got`` has ``expected``'s shape and agrees with it elementwise (NaNs must match too).

    The failure message gives the shapes, or the largest absolute difference and where it is, plus
    ``context`` (e.g. "with a causal mask") so the learner knows which case broke.
    """
    where = f" ({context})" if context else ""
    expect_shape(name + where, got, tuple(expected.shape))
    assert isinstance(got, torch.Tensor)
    got_f, exp_f = got.detach().to(torch.float64).cpu(), expected.detach().to(torch.float64).cpu()
    if torch.isnan(got_f).any() and not torch.isnan(exp_f).any():
        index = tuple(torch.nonzero(torch.isnan(got_f))[0].tolist())
        raise CheckFailed(f"expected finite {name}{where}, got NaN (first at index {index})")
    if torch.allclose(got_f, exp_f, atol=atol, rtol=rtol, equal_nan=True):
        return
    diff = (got_f - exp_f).abs().nan_to_num(nan=float("inf"))
    index = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
    raise CheckFailed(
        f"expected {name}{where} to match the reference within atol={atol:g}, got a max abs difference of "
        f"{diff.max().item():.3g} at index {index} (expected {exp_f[index].item():.4g}, got {got_f[index].item():.4g})"
    )
