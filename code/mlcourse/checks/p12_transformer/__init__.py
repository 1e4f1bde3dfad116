"""The automatic checks behind the exercises of chapter 12 (the decoder-only transformer), one module per piece.

* :mod:`.attention`: the learner's multi-head causal self-attention, then its grouped key/value heads.
* :mod:`.blocks`: the feed-forward networks (GELU MLP, SwiGLU), the pre-norm decoder block, the whole language
  model with its tied head, and the learner's training curve against the library's.
* :mod:`.norms_and_sizes`: RMSNorm, RoPE and the parameter-count formula.

Every check loads the library module's ``state_dict`` into the learner's module (identical weights), compares
the outputs within 1e-5 and, when they differ, tries the typical mistakes one at a time to name the broken piece.
"""

from mlcourse.checks.p12_transformer.attention import check_attention, check_grouped_attention
from mlcourse.checks.p12_transformer.blocks import (
    check_decoder_block, check_gelu_mlp, check_language_model, check_swiglu, check_training_curve,
)
from mlcourse.checks.p12_transformer.norms_and_sizes import check_parameter_count, check_rms_norm, check_rope

__all__ = [
    "check_attention", "check_grouped_attention", "check_gelu_mlp", "check_swiglu", "check_decoder_block",
    "check_language_model", "check_training_curve", "check_rms_norm", "check_rope", "check_parameter_count",
]
