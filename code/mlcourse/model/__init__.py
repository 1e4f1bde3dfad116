"""The language model, part by part (Part 2; chapters 12.1, 12, 14, and everything that reads a model after).

- ``attention``: scaled dot-product attention with the explicit formula, masks, multi-head attention (12.1).
- ``gqa_attention``: the decoder's attention layer: grouped K/V heads, RoPE, sliding window, fused path (12).
- ``parts``: norms (LayerNorm, RMSNorm), positions (sinusoids, RoPE), the feed-forward block (GELU, SwiGLU) (12).
- ``transformer``: ``TransformerConfig`` and ``TransformerLM``, classic GPT and Mistral options, and
  ``next_token_loss``, the one language-model loss (12, 14).
- ``generation``: sampling text from a model (14; later chapters generate with it).
- ``hf_mistral``: conversion to and from ``transformers.MistralForCausalLM`` (12; 16 and 17 load through it).
- ``size``: parameter and FLOP formulas, Mistral 7B counted on the ``meta`` device (12).

Nothing here trains (that is :mod:`mlcourse.training`) or reads data.
"""
