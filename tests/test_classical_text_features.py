"""Chapter 10's bag of words and TF-IDF equal scikit-learn's CountVectorizer / TfidfVectorizer defaults.

Tolerance: counts and vocabularies exactly equal (no arithmetic); TF-IDF within 1e-12 (the same logarithm and
square root, summed in another order).
"""

import numpy as np
import pytest
from sklearn.feature_extraction import text as sk
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from mlcourse.classical.text_features import (
    BagOfWords, TfidfVectorizer, idf_weights, oov_rate, tfidf_weighting, tokenize,
)

TEXTS = [
    "To be, or not to be: that is the question.",
    "Whether 'tis nobler in the mind to suffer",
    "The slings and arrows of outrageous fortune,",
    "Or to take arms against a sea of troubles",
    "I", "",  # a text with no token of 2+ letters, and an empty one
    "O'er the sea, the sea, the SEA!",
]
NEW = ["To sleep, perchance to dream", "the sea of fortune", "ay, there's the rub"]


def test_tokenize_follows_sklearn_default_pattern():
    assert tokenize("To be, or NOT to be: I a o'er") == ["to", "be", "or", "not", "to", "be", "er"]
    assert tokenize("To be") == sk.CountVectorizer().build_analyzer()("To be")


@pytest.mark.parametrize("kwargs", [dict(), dict(min_df=2), dict(max_features=5), dict(lowercase=False)])
def test_bag_of_words_equals_count_vectorizer(kwargs):
    ours, ref = BagOfWords(**kwargs).fit(TEXTS), sk.CountVectorizer(**kwargs).fit(TEXTS)
    assert ours.vocabulary_ == ref.vocabulary_
    np.testing.assert_array_equal(ours.transform(NEW).toarray(), ref.transform(NEW).toarray())
    np.testing.assert_array_equal(ours.fit_transform(TEXTS).toarray(), ref.fit_transform(TEXTS).toarray())
    assert list(ours.get_feature_names_out()) == list(ref.get_feature_names_out())


def test_hand_counted_example():
    counts = BagOfWords().fit(["the sea the sea", "sea"]).transform(["the sea the sea", "sea"]).toarray()
    np.testing.assert_array_equal(counts, [[2, 2], [1, 0]])  # columns: "sea", "the"
    idf = idf_weights(counts)
    np.testing.assert_allclose(idf, [np.log(3 / 3) + 1, np.log(3 / 2) + 1])  # df: sea 2, the 1; n = 2


@pytest.mark.parametrize("kwargs", [dict(), dict(min_df=2), dict(max_features=6)])
def test_tfidf_equals_tfidf_vectorizer(kwargs):
    ours, ref = TfidfVectorizer(**kwargs), sk.TfidfVectorizer(**kwargs)
    np.testing.assert_allclose(ours.fit_transform(TEXTS).toarray(), ref.fit_transform(TEXTS).toarray(), atol=1e-12)
    np.testing.assert_allclose(ours.idf_, ref.idf_, atol=1e-12)
    np.testing.assert_allclose(ours.transform(NEW).toarray(), ref.transform(NEW).toarray(), atol=1e-12)


def test_tfidf_rows_have_unit_length_and_empty_rows_stay_zero():
    weights = TfidfVectorizer().fit(TEXTS).transform(TEXTS + ["zzz qqq"]).toarray()
    norms = np.linalg.norm(weights, axis=1)
    np.testing.assert_allclose(norms[[0, 1, 2, 3, 6]], 1.0)
    assert norms[4] == norms[5] == norms[7] == 0.0  # "I", "" and unknown words only


def test_tfidf_weighting_of_dense_counts():
    counts = sk.CountVectorizer().fit_transform(TEXTS)
    ref = sk.TfidfTransformer().fit_transform(counts).toarray()
    dense = counts.toarray()
    np.testing.assert_allclose(tfidf_weighting(dense, idf_weights(dense)).toarray(), ref, atol=1e-12)


def test_works_in_a_pipeline():
    labels = [0, 1, 0, 1, 0, 1, 0]
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(TEXTS, labels)
    assert pipe.predict(NEW).shape == (3,)


def test_oov_rate_counts_unknown_tokens():
    rate, missing = oov_rate(["the sea of dreams", "sea sea"], ["the", "sea"])
    assert rate == pytest.approx(2 / 6) and missing == {"of": 1, "dreams": 1}


def test_bad_input_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="got one string"):
        BagOfWords().fit("to be or not to be")
    with pytest.raises(ValueError, match="of type float"):
        BagOfWords().fit(["to be", float("nan")])
    with pytest.raises(ValueError, match="empty vocabulary"):
        BagOfWords().fit(["I", "a"])
    with pytest.raises(RuntimeError, match="not fitted"):
        BagOfWords().transform(["to be"])
