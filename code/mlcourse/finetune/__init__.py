"""Adapting a trained model to a task (chapter 15; Part 3's instruction tuning and LoRA join here).

- ``classifier``: a classification head on the base model's final hidden states, and freezing.
- ``downstream_tasks``: tasks cut from held-out plays (speaker, play, next token), with a verbatim-leak filter.
- ``transfer``: one fine-tuning pipeline run from pretrained and from random weights over sizes and seeds.
- ``fsdp_lora``: LoRA adapters on a frozen base, sharded with FSDP2 across processes (appendix 18).
"""
