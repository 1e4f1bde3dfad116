"""Text -> ids -> batches, streamed: ``BPETokenizer.encode_iterable`` equals whole-text encoding however the text
is cut into chunks, ``stream_text_batches`` equals packing the whole files, memory does not grow with the text,
and ``padding_cost`` counts padded positions on hand-sized examples (chapter 13)."""

from __future__ import annotations

import random
import tracemalloc

import pytest
import torch
from mlcourse.data import load_corpus
from mlcourse.tokenizers import BPETokenizer
from mlcourse.training.batching import pack_documents, padding_cost, stream_packed_batches, stream_text_batches

TRICKY = ("naïve café — 日本語 🎭👑  \t\n\n  x  y\u00a0z\u2003w 1234 ١٢٣ e\u0301 it's I'LL we'VE Ⅻ ﬁ 𝔘 \r\n   \n"
          "we'll they're I've")


@pytest.fixture(scope="module")
def text(shakespeare_data) -> str:
    return load_corpus()[:60_000] + TRICKY


@pytest.fixture(scope="module")
def tokenizer(text: str) -> BPETokenizer:
    return BPETokenizer.train(text, vocab_size=500)


def random_cuts(text: str, rng: random.Random, largest: int) -> list[str]:
    """``text`` cut at random places into chunks of 1..largest characters (cuts inside words and spaces)."""
    chunks, i = [], 0
    while i < len(text):
        step = rng.randint(1, largest)
        chunks.append(text[i : i + step])
        i += step
    return chunks


@pytest.mark.parametrize("largest", [1, 3, 17, 500, 10_000])
def test_encode_iterable_equals_whole_text_encoding_for_any_chunking(tokenizer, text, largest):
    chunks = random_cuts(text, random.Random(largest), largest)
    assert "".join(chunks) == text
    assert list(tokenizer.encode_iterable(chunks)) == tokenizer.encode(text)


def test_encode_iterable_over_the_lines_of_a_file(tokenizer, text, tmp_path):
    path = tmp_path / "play.txt"
    path.write_text(text, encoding="utf-8", newline="")
    with open(path, encoding="utf-8", newline="") as lines:  # a file object yields its lines
        assert list(tokenizer.encode_iterable(lines)) == tokenizer.encode(text)


def test_encode_iterable_cut_between_spaces_and_a_word_or_inside_a_contraction(tokenizer):
    # "\s+(?!\S)" gives the last space to the next word: the split of "   x" depends on the chunk after it
    # a contraction cut in two changes the piece *before* the last: " we'l" is " we" "'" "l", " we'll" " we" "'ll"
    for chunks in (["a   ", "x"], ["a ", "  ", "x"], ["a", "   x"], ["'", "s"], [" Rom", "eo"], ["", "", "ab"],
                   ["river we'l", "l encamp"], ["it'", "re"], ["I'", "ve", "n't"], ["we'", "ll"], ["x'l", "l", "y"]):
        assert list(tokenizer.encode_iterable(chunks)) == tokenizer.encode("".join(chunks)), chunks


def test_encode_iterable_is_lazy(tokenizer):
    """The first ids come out before the source is exhausted (an endless source still yields)."""

    def endless():
        while True:
            yield "To be, or not to be: that is the question. "

    ids = tokenizer.encode_iterable(endless())
    first = [next(ids) for _ in range(50)]
    assert first == tokenizer.encode("To be, or not to be: that is the question. " * 10)[:50]


def test_streaming_packer_with_lazy_documents_equals_packing_whole_documents(tokenizer, text):
    docs = [text[:20_000], text[20_000:21_000], text[21_000:]]
    packed = pack_documents([tokenizer.encode(d) for d in docs], eos_id=tokenizer.eos_id, bos_id=tokenizer.bos_id)
    lazy = (tokenizer.encode_iterable(random_cuts(d, random.Random(0), 50)) for d in docs)
    batches = list(stream_packed_batches(lazy, batch_size=3, seq_len=32, eos_id=tokenizer.eos_id,
                                         bos_id=tokenizer.bos_id, vocab_size=tokenizer.vocab_size))
    block = 3 * 32
    assert len(batches) == (len(packed) - 1) // block
    for n, (x, y) in enumerate(batches):
        assert torch.equal(x.flatten(), packed[block * n : block * n + block])
        assert torch.equal(y.flatten(), packed[block * n + 1 : block * n + block + 1])


def test_stream_text_batches_reads_files_as_bos_document_eos(tokenizer, text, tmp_path):
    paths = []
    for k, piece in enumerate([text[:30_000], text[30_000:]]):
        paths.append(tmp_path / f"work{k}.txt")
        paths[-1].write_text(piece, encoding="utf-8", newline="")
    packed = pack_documents([tokenizer.encode(p.read_text(encoding="utf-8")) for p in paths],
                            eos_id=tokenizer.eos_id, bos_id=tokenizer.bos_id)
    streamed = torch.cat([x.flatten() for x, _ in stream_text_batches(paths, tokenizer, 4, 16, chunk_chars=777)])
    assert streamed[0] == tokenizer.bos_id
    assert torch.equal(streamed, packed[: len(streamed)])
    assert len(packed) - len(streamed) <= 4 * 16  # only the incomplete tail is dropped


def peak_bytes(run) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streaming_memory_does_not_grow_with_the_text_but_whole_encoding_does(tokenizer, tmp_path):
    line = "Now is the winter of our discontent made glorious summer by this sun of York;\n"
    small, large = tmp_path / "small.txt", tmp_path / "large.txt"
    small.write_text(line * 2_000, encoding="utf-8")
    large.write_text(line * 20_000, encoding="utf-8")  # ten times the text, 1.6 MB

    def stream(path):
        return lambda: sum(1 for _ in stream_text_batches([path], tokenizer, 8, 64, chunk_chars=4096))

    def whole(path):
        return lambda: pack_documents([tokenizer.encode(path.read_text(encoding="utf-8"))], tokenizer.eos_id)

    stream(small)()  # warm the encode cache, so both measurements see the same cache
    assert peak_bytes(stream(large)) < 1.5 * peak_bytes(stream(small)) + 200_000
    assert peak_bytes(whole(large)) > 5 * peak_bytes(whole(small))


def test_padding_cost_on_a_hand_sized_example():
    in_order = padding_cost([1, 4, 1, 4], batch_size=2)  # batches [1, 4] and [1, 4]: 8 + 8 positions
    assert in_order == {"real_tokens": 10, "positions": 16, "compute_per_real_token": 1.6, "padding_share": 0.375}
    bucketed = padding_cost([1, 4, 1, 4], batch_size=2, sort_by_length=True)  # [1, 1] and [4, 4]: no padding
    assert bucketed["positions"] == 10 and bucketed["compute_per_real_token"] == 1.0
    fixed = padding_cost([1, 4, 1], batch_size=2, pad_to=5)  # [1, 4] -> 10, [1] -> 5
    assert fixed["positions"] == 15 and fixed["real_tokens"] == 6


def test_padding_cost_rejects_bad_input_clearly():
    with pytest.raises(ValueError, match="pad_to=3"):
        padding_cost([2, 4], batch_size=2, pad_to=3)
    with pytest.raises(ValueError, match="at least one example"):
        padding_cost([], batch_size=2)
