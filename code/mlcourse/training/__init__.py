"""Training a language model (chapter 14; chapter 15 and Part 3 reuse the same pieces).

- ``loop``: the one pretraining loop (AdamW groups, warm-up + cosine, clipping, evaluation in bits per byte,
  metrics JSONL, samples during training), ``lm_loss`` on a (B, T + 1) window and ``evaluate`` on fixed windows,
  both scored by the one language-model loss, ``model.transformer.next_token_loss``.
- ``lr_schedule``: the schedule and AdamW's parameter groups.
- ``checkpoint``: safetensors + JSON checkpoints, written atomically, resumable after a kill.
- ``batching``: token windows for pretraining (packing, the one window sampler) and padded batches for tasks (13).
- ``base_model``: the course's base model, trained once under a file lock and saved in Hugging Face format (14;
  read by 13.5, 15, 16, 17).
- ``distributed``, ``ddp_train``, ``parallel_memory``: the same loop under torchrun (DDP, rank-aware window
  sharding, FSDP2 wrapping), its launcher, and memory per device under DDP and the ZeRO stages (appendix 18).
"""
