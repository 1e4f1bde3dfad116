"""Analyses of trained models: they read a model and never train it (chapters 13.5 and 17).

- ``attention``: every head's weights, entropy against the causal ceiling, rollout, head ablation and
  interventions on the attention pattern (13.5).
- ``head_detectors``: previous-token, duplicate-token, induction, delimiter and sink heads, with baselines (13.5).
- ``calibration``: reliability bins, expected calibration error and temperature scaling (17).

Fine-tuning a model lives in :mod:`mlcourse.finetune`; the base model itself in :mod:`mlcourse.training.base_model`.
"""
