"""Export our byte-level BPE to a Hugging Face ``PreTrainedTokenizerFast``, so ``transformers`` can use it.

The Rust ``tokenizers`` library rebuilds the same pipeline from our pieces:

- pre-tokeniser: ``Split(Regex(GPT2_PATTERN), "isolated")`` (our regex, run by the Rust Oniguruma engine),
  then ``ByteLevel(use_regex=False)``, which only maps each byte to its printable character (``render``);
- model: ``BPE`` with our vocabulary (spelled with those characters) and our merges in rank order;
- decoder: ``ByteLevel``, which maps the characters back to bytes;
- special tokens: ``<bos>``/``<eos>``/``<pad>`` added with the same ids as ours.

Encoding through the export equals ``tokenizer.encode(text, allowed_special="all")``: Hugging Face always
recognises special-token names in text (ours only when allowed). The two regex engines agree on the GPT-2
pattern for the corpus and for the non-ASCII and emoji texts of the tests; ``check_export`` measures it on
any text you give it.

What it does not do: export the SentencePiece models (they ship their own ``.model`` file), or add a
post-processor (no automatic ``<bos>``; add it yourself, as the batching code does).

Taught in chapter 13 (Tokenization and the data loader).
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from mlcourse.tokenizers.bpe import BPETokenizer, render


def to_hf_tokenizer(tokenizer: BPETokenizer) -> Tokenizer:
    """The raw ``tokenizers.Tokenizer`` equivalent to ``tokenizer``."""
    vocab = {render(token): i for i, token in enumerate(tokenizer.vocab)}
    merges, seen = [], set()
    for a, b, _ in tokenizer.merges:
        if (a, b) not in seen:  # a repeated pair never fires in our encoder either
            seen.add((a, b))
            merges.append((render(tokenizer.vocab[a]), render(tokenizer.vocab[b])))
    hf = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False, ignore_merges=False))
    hf.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(tokenizer.pattern), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])  # fmt: skip
    hf.decoder = decoders.ByteLevel()
    specials = sorted(tokenizer.special_tokens, key=tokenizer.special_tokens.__getitem__)
    hf.add_special_tokens([AddedToken(name, special=True, normalized=False) for name in specials])
    for name, expected in tokenizer.special_tokens.items():
        got = hf.token_to_id(name)
        if got != expected:
            raise RuntimeError(f"exported special token {name!r} got id {got}, ours is {expected}: the vocabularies "
                               "are out of step (is a learned token spelled like a special token?)")
    return hf


def to_transformers(tokenizer: BPETokenizer) -> PreTrainedTokenizerFast:
    """A ``PreTrainedTokenizerFast`` (``save_pretrained`` / ``AutoTokenizer.from_pretrained`` work) with
    ``bos_token``/``eos_token``/``pad_token`` set when the tokenizer has them."""
    roles = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"}
    present = {role: name for role, name in roles.items() if name in tokenizer.special_tokens}
    return PreTrainedTokenizerFast(
        tokenizer_object=to_hf_tokenizer(tokenizer),
        clean_up_tokenization_spaces=False,  # keep decode(encode(x)) == x: no " ." -> "." clean-up
        **present,
    )


def export(tokenizer: BPETokenizer, directory: str | Path) -> Path:
    """Save the export with ``save_pretrained`` into ``directory``; load it back with
    ``transformers.AutoTokenizer.from_pretrained(directory)``."""
    directory = Path(directory)
    to_transformers(tokenizer).save_pretrained(directory)
    return directory


def check_export(tokenizer: BPETokenizer, hf_tokenizer: PreTrainedTokenizerFast, text: str,
                 chunk_lines: int = 2000) -> dict[str, int]:  # fmt: skip
    """Compare both encodings of ``text``, chunk by chunk (``chunk_lines`` lines each, cut at line ends).

    Returns ``{"chunks": ..., "tokens": ..., "mismatched_chunks": ...}``; 0 mismatches means equal encodings.
    """
    lines = text.splitlines(keepends=True)
    chunks = ["".join(lines[i : i + chunk_lines]) for i in range(0, len(lines), chunk_lines)] or [""]
    theirs = hf_tokenizer(chunks, add_special_tokens=False)["input_ids"]
    tokens = mismatched = 0
    for chunk, hf_ids in zip(chunks, theirs):
        ours = tokenizer.encode(chunk, allowed_special="all")
        tokens += len(ours)
        mismatched += ours != hf_ids
    return {"chunks": len(chunks), "tokens": tokens, "mismatched_chunks": mismatched}
