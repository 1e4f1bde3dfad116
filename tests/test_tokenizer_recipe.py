"""The course tokenizer's recipe: training works only, same merges as training directly, trained once per machine
(also by two processes at once), a corrupt cache is trained again, and chapter 14's base model takes it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from mlcourse.data.shakespeare import build_corpus, load_records, split_works
from mlcourse.tokenizers import BPETokenizer
from mlcourse.tokenizers import recipe

# A small text for the mechanics (no corpus needed): verse with repeats, so that 300 tokens are learnable.
SMALL_TEXT = "\n".join([
    "To be, or not to be, that is the question:",
    "Whether 'tis nobler in the mind to suffer",
    "The slings and arrows of outrageous fortune,",
    "Or to take arms against a sea of troubles",
    "And by opposing end them. To die: to sleep;",
    "No more; and by a sleep to say we end",
    "The heart-ache and the thousand natural shocks",
    "That flesh is heir to, 'tis a consummation",
] * 20) + "\n"  # fmt: skip
SMALL_VOCAB = 300


@pytest.fixture
def small_recipe(tmp_path, monkeypatch):
    """The recipe on SMALL_TEXT with an empty data folder; returns the list of texts the trainer was called on."""
    monkeypatch.setenv("MLCOURSE_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(recipe, "training_text", lambda: SMALL_TEXT)
    calls: list[str] = []
    real_train = BPETokenizer.train.__func__

    def counting_train(cls, text, *args, **kwargs):
        calls.append(text)
        return real_train(cls, text, *args, **kwargs)

    monkeypatch.setattr(BPETokenizer, "train", classmethod(counting_train))
    return calls


def test_same_merges_as_training_directly(small_recipe):
    tokenizer = recipe.course_tokenizer(SMALL_VOCAB)
    direct = BPETokenizer.train(SMALL_TEXT, vocab_size=SMALL_VOCAB)
    assert tokenizer.merges == direct.merges and len(tokenizer.merges) == SMALL_VOCAB - 259
    assert tokenizer.special_tokens == direct.special_tokens and tokenizer.pattern == direct.pattern
    path = recipe.tokenizer_path(SMALL_VOCAB)
    assert path.parent.name == "tokenizers" and path.name.startswith(f"bpe-{SMALL_VOCAB}-")
    assert BPETokenizer.load(path).merges == direct.merges


def test_cache_is_reused(small_recipe):
    first = recipe.course_tokenizer(SMALL_VOCAB)
    assert small_recipe == [SMALL_TEXT]
    second = recipe.course_tokenizer(SMALL_VOCAB)
    assert small_recipe == [SMALL_TEXT], "the second call must load the cached file, not train"
    assert second.merges == first.merges
    recipe.course_tokenizer(SMALL_VOCAB + 10)  # another size is another file
    assert len(small_recipe) == 2


def test_key_follows_the_text_and_the_recipe_version(small_recipe, monkeypatch):
    path = recipe.tokenizer_path(SMALL_VOCAB)
    assert recipe.tokenizer_path(SMALL_VOCAB, SMALL_TEXT + "x") != path
    monkeypatch.setattr(recipe, "RECIPE_VERSION", recipe.RECIPE_VERSION + 1)
    assert recipe.tokenizer_path(SMALL_VOCAB) != path


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other vocabulary"])
def test_corrupt_cache_is_trained_again(small_recipe, capsys, damage):
    good = recipe.course_tokenizer(SMALL_VOCAB)
    path = recipe.tokenizer_path(SMALL_VOCAB)
    if damage == "garbage":
        path.write_bytes(b"\x00\xffnot json")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:  # a valid tokenizer file, but not this size: never handed out as the recipe's tokenizer
        BPETokenizer.train(SMALL_TEXT, vocab_size=280).save(path)
    capsys.readouterr()
    trained = len(small_recipe)
    again = recipe.course_tokenizer(SMALL_VOCAB)
    message = capsys.readouterr().err
    assert "unusable" in message and "training it again" in message and str(path) in message
    assert again.merges == good.merges and len(small_recipe) == trained + 1
    assert BPETokenizer.load(path).merges == good.merges  # the file was replaced by a good one


def test_bad_vocab_size_is_a_clear_error(small_recipe):
    for bad in (100, 258, 4096.0, "4096"):
        with pytest.raises(ValueError, match="vocab_size must be an integer >= 259"):
            recipe.course_tokenizer(bad)
    assert small_recipe == []


def test_two_processes_train_once(tmp_path):
    """Both processes start the recipe at the same moment (a file barrier); the trainer is slowed down so that the
    second one arrives while the first is training: it must wait for the lock, then load the first one's file."""
    script = textwrap.dedent(f"""
        import hashlib, os, sys, time
        from pathlib import Path
        from mlcourse.tokenizers import BPETokenizer, recipe
        recipe.training_text = lambda: {SMALL_TEXT!r}
        real_train = BPETokenizer.train.__func__
        def slow_train(cls, *args, **kwargs):
            print("TRAINING", flush=True)
            time.sleep(1.5)
            return real_train(cls, *args, **kwargs)
        BPETokenizer.train = classmethod(slow_train)
        barrier = Path({str(tmp_path / "barrier")!r})
        barrier.mkdir(exist_ok=True)
        (barrier / str(os.getpid())).touch()
        deadline = time.time() + 120
        while len(list(barrier.iterdir())) < 2 and time.time() < deadline:
            time.sleep(0.01)
        tokenizer = recipe.course_tokenizer({SMALL_VOCAB})
        print("merges", hashlib.sha256(repr(tokenizer.merges).encode()).hexdigest())
    """)
    env = {**os.environ, "MLCOURSE_DATA": str(tmp_path / "data")}
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]  # fmt: skip
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert sum(o.count("TRAINING") for o in outputs) == 1, outputs
    hashes = {line for o in outputs for line in o.splitlines() if line.startswith("merges ")}
    assert len(hashes) == 1, outputs


# ----------------------------------------------------------------- the real corpus


@pytest.fixture
def real_recipe(shakespeare_data, monkeypatch):
    """The recipe on the real corpus, caching into the session's data folder."""
    monkeypatch.setenv("MLCOURSE_DATA", str(shakespeare_data))


def test_training_text_is_the_training_works_only(real_recipe):
    records = load_records()
    train_works, val_works = split_works()
    text = recipe.training_text()
    # exactly the text chapter 14's base model trained its tokenizer on before the recipe existed
    assert text == "".join(build_corpus(r for r in records if r.work == w) for w in train_works)
    lines = set(text.split("\n"))
    train_lines = {r.text for r in records if r.work in train_works}
    held_out_only = {r.text for r in records if r.work in val_works} - train_lines
    assert len(held_out_only) > 5_000
    assert held_out_only.isdisjoint(lines), "a line of a held-out work is in the tokenizer's training text"
    for work in val_works:
        title = next(r.title for r in records if r.work == work).upper()
        assert title not in lines


def test_course_tokenizer_4096_never_saw_the_held_out_plays(real_recipe):
    tokenizer = recipe.course_tokenizer()
    assert tokenizer.vocab_size == 4096 and tokenizer.eos_id == 4094
    assert tokenizer.merges == BPETokenizer.train(recipe.training_text(), vocab_size=4096).merges
    vocab = set(tokenizer.vocab)
    # speaker labels of the held-out plays: single tokens for a BPE trained on the whole corpus, absent here
    for name in ("ROMEO", "BENEDICK", "BEATRICE", "LEONATO", "MERCUTIO"):
        assert name.encode() not in vocab and len(tokenizer.encode(name)) > 1, name
    assert b"FALSTAFF" in vocab  # he also speaks in training works (Henry IV Part 2, The Merry Wives of Windsor)


def test_base_model_copies_the_recipe_tokenizer(real_recipe, tmp_path):
    from mlcourse.training import base_model

    data = base_model.prepare_data(tmp_path, 300)
    assert data.tokenizer.merges == recipe.course_tokenizer(300).merges
    assert BPETokenizer.load(tmp_path / "tokenizer.json").merges == data.tokenizer.merges
    # a resumed run keeps its own copy, even when the recipe would now give another one
    other = BPETokenizer.train(SMALL_TEXT, vocab_size=300)
    other.save(tmp_path / "tokenizer.json")
    assert base_model.prepare_data(tmp_path, 300).tokenizer.merges == other.merges
