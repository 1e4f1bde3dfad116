"""The course's tokenizer: one recipe, trained on the training works only, once per machine.

What it does:
  * :func:`training_text`: the text the tokenizer learns from: the training works of ``split_works()``, each
    as ``build_corpus`` writes it, joined in order (the text chapter 14's base model always trained it on).
    No line of a held-out work is in it, so the held-out loss of every later chapter is measured on text that
    neither the model nor its tokenizer has seen.
  * :func:`course_tokenizer`: ``BPETokenizer.train(training_text(), vocab_size)`` with the default special
    tokens (``<bos>``, ``<eos>``, ``<pad>``) and GPT-2's pattern. The default, 4,096 tokens, is the tokenizer of
    chapters 14 to 17. The first call on a machine trains it (about two seconds on 2 CPU cores) and saves it as
    ``data/tokenizers/bpe-<vocab_size>-<key>.json``; later calls load that file. ``key`` hashes the training
    text and :data:`RECIPE_VERSION`, so a parser change, a new split or a new recipe gets a new file, never a
    stale one. A file lock makes processes that ask at the same time (CI runs notebooks in parallel) train it
    once; the file is written atomically; a corrupt file is trained again, with a message that says so.

What it does not do: train on the held-out works, choose a vocabulary size per chapter, or replace a run's
own copy: chapter 14 saves the tokenizer it trained with next to the model
(``runs/p14_pretraining/<profile>/tokenizer.json``), and a resumed run keeps using that copy.

Taught in chapter 13 (p13_tokenization); used by chapter 14's base model and everything that loads it.
"""

from __future__ import annotations

import hashlib
import numbers
import sys
import tempfile
from pathlib import Path

from filelock import FileLock

from mlcourse.course.atomic import write_bytes_atomic
from mlcourse.course.paths import data_dir
from mlcourse.data.shakespeare import build_corpus, load_records, split_works
from mlcourse.tokenizers.bpe import DEFAULT_SPECIALS, GPT2_PATTERN, BPETokenizer

# Part of the cache key, with the training text, the pattern and the special tokens (so a parser change or a
# new split is seen without it). Bump it when the trainer learns different merges from the same text (e.g. a
# new tie rule in bpe_train): files of the old recipe are then ignored and the new one is trained once.
RECIPE_VERSION = 1
DEFAULT_VOCAB_SIZE = 4096
CACHE_FOLDER = "tokenizers"  # under data_dir()


def training_text() -> str:
    """The text the course's tokenizer is trained on: every training work (``split_works()[0]``), each built
    by ``build_corpus`` (title, speeches, one final newline), concatenated in work order. The held-out works
    are not in it. (``load_split_corpus()[0]`` holds the same works with two more newlines between them.)"""
    records = load_records()
    train_works, _ = split_works()
    by_work: dict[str, list] = {work: [] for work in train_works}
    for record in records:
        if record.work in by_work:
            by_work[record.work].append(record)
    return "".join(build_corpus(by_work[work]) for work in train_works)


def recipe_key(text: str) -> str:
    """12 hex digits that change whenever the training text or the recipe changes."""
    digest = hashlib.sha256()
    for part in (f"recipe {RECIPE_VERSION}", GPT2_PATTERN, "\0".join(DEFAULT_SPECIALS)):
        digest.update(part.encode("utf-8") + b"\0")
    digest.update(text.encode("utf-8"))
    return digest.hexdigest()[:12]


def tokenizer_path(vocab_size: int = DEFAULT_VOCAB_SIZE, text: str | None = None) -> Path:
    """Where :func:`course_tokenizer` keeps the tokenizer of ``vocab_size`` trained on ``text`` (default:
    :func:`training_text`): ``data_dir()/tokenizers/bpe-<vocab_size>-<key>.json``. Nothing is created."""
    text = training_text() if text is None else text
    return data_dir() / CACHE_FOLDER / f"bpe-{vocab_size}-{recipe_key(text)}.json"


def _check_vocab_size(vocab_size: int) -> int:
    smallest = 256 + len(DEFAULT_SPECIALS)
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, numbers.Integral) or vocab_size < smallest:
        raise ValueError(f"vocab_size must be an integer >= {smallest} (256 bytes + {len(DEFAULT_SPECIALS)} special "
                         f"tokens), got {vocab_size!r}; the course's tokenizer has {DEFAULT_VOCAB_SIZE}")
    return int(vocab_size)


def _read_cached(path: Path, vocab_size: int) -> tuple[BPETokenizer | None, str | None]:
    """(tokenizer, None) when ``path`` holds the recipe's tokenizer; (None, None) when there is no file;
    (None, why) when there is a file but it is damaged or holds something else."""
    if not path.exists():
        return None, None
    try:
        tokenizer = BPETokenizer.load(path)
    except ValueError as err:  # BPETokenizer.load names the file and what is wrong with it
        return None, str(err)
    if (tokenizer.pattern, list(tokenizer.special_tokens)) != (GPT2_PATTERN, list(DEFAULT_SPECIALS)):
        return None, f"{path} has another pattern or other special tokens than the recipe"
    if tokenizer.vocab_size != vocab_size:
        return None, f"{path} holds {tokenizer.vocab_size} tokens, not {vocab_size}"
    return tokenizer, None


def _save_atomically(tokenizer: BPETokenizer, path: Path) -> None:
    """``tokenizer.save`` into a staging folder, then the course's one atomic write: readers (who do not take the
    lock) see no file or the whole file, never half a tokenizer."""
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".staging-") as staging:
        content = tokenizer.save(Path(staging) / path.name).read_bytes()
    write_bytes_atomic(path, content)


def course_tokenizer(vocab_size: int = DEFAULT_VOCAB_SIZE) -> BPETokenizer:
    """The course's byte-level BPE with ``vocab_size`` tokens (special tokens included), trained on
    :func:`training_text` only: loaded from ``data/tokenizers/`` when this machine has trained it before,
    otherwise trained now (once, even when several processes ask together) and saved there.

    >>> tokenizer = course_tokenizer()          # chapter 13 shows it; chapter 14's base model trains on it
    >>> tokenizer.vocab_size, tokenizer.eos_id
    (4096, 4094)
    """
    vocab_size = _check_vocab_size(vocab_size)
    text = training_text()
    path = tokenizer_path(vocab_size, text)
    tokenizer, _ = _read_cached(path, vocab_size)
    if tokenizer is not None:
        return tokenizer
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        tokenizer, problem = _read_cached(path, vocab_size)  # another process may have trained it meanwhile
        if tokenizer is not None:
            return tokenizer
        if problem:
            print(f"The cached course tokenizer is unusable ({problem}); training it again (a few seconds) and "
                  f"replacing {path}.", file=sys.stderr, flush=True)
        tokenizer = BPETokenizer.train(text, vocab_size=vocab_size)
        _save_atomically(tokenizer, path)
    return tokenizer
