"""Automatic checks behind the exercises: each prints one verdict line and returns whether it passed.

``core`` holds the generic machinery (run a check, compare tensors, print "✓ passed" / "✗ failed" /
"… not attempted yet"); one module per chapter holds that chapter's checks, e.g. :mod:`mlcourse.checks.p12_1_attention`.
"""

from mlcourse.checks.core import CheckFailed, expect, expect_close, expect_shape, run_check

__all__ = ["CheckFailed", "expect", "expect_close", "expect_shape", "run_check"]
