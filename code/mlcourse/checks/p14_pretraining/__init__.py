"""Checks behind the exercises of chapter 14 (Pretraining a tiny transformer on Shakespeare), one module per theme:

- :mod:`.schedule`: the warm-up + cosine learning-rate schedule and AdamW's parameter groups;
- :mod:`.loop`: the learner's training loop against the library's ``train``, and save / kill / resume;
- :mod:`.sampling`: top-k / top-p truncation, the sampling loop, the key-value cache's attention step and cached
  generation.

Every check prints one verdict line (``mlcourse.checks.core``) and names the typical bug when it finds one.
"""

from mlcourse.checks.p14_pretraining.loop import check_resume, check_training_loop
from mlcourse.checks.p14_pretraining.sampling import (check_attention_step, check_cached_generate,
                                                       check_filter_logits, check_generate)
from mlcourse.checks.p14_pretraining.schedule import check_lr_schedule, check_parameter_groups, reference_lr

__all__ = ["check_attention_step", "check_cached_generate", "check_filter_logits", "check_generate",
           "check_lr_schedule", "check_parameter_groups", "check_resume", "check_training_loop", "reference_lr"]
