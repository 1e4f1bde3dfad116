"""Chapter 10's preprocessing transformers equal scikit-learn's on the same data, work inside its Pipeline and
ColumnTransformer, and refuse bad input with a message that says what to do.

Tolerance: 1e-12 absolute for the scaler and the polynomial features (the same floating-point formulas in a
possibly different order of summation), exact equality for the encoders and the imputers (no arithmetic, or a
mean/median of the same numbers).
"""

import numpy as np
import pandas as pd
import pytest
from sklearn import impute as sk_impute
from sklearn import preprocessing as sk
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline

from mlcourse.classical.preprocessing import (
    OneHotEncoder, OrdinalEncoder, PolynomialFeatures, SimpleImputer, StandardScaler,
)


def numeric(seed=0, n=60, d=4):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * np.array([1.0, 100.0, 0.01, 5.0]) + np.array([0.0, 50.0, -3.0, 1e3])


def categorical(seed=0, n=60):
    rng = np.random.default_rng(seed)
    colours, sizes = rng.choice(["red", "green", "blue"], n), rng.choice(["s", "m", "l", "xl"], n)
    return np.column_stack([colours, sizes]).astype(object)


def test_standard_scaler_equals_sklearn_and_ignores_constant_columns():
    X = numeric()
    X[:, 2] = 7.0  # constant column: scale 1, output 0
    ours, ref = StandardScaler().fit(X), sk.StandardScaler().fit(X)
    np.testing.assert_allclose(ours.mean_, ref.mean_, atol=1e-12)
    np.testing.assert_allclose(ours.scale_, ref.scale_, rtol=1e-12)
    X_new = numeric(seed=1)
    np.testing.assert_allclose(ours.transform(X_new), ref.transform(X_new), atol=1e-12)
    np.testing.assert_allclose(ours.inverse_transform(ours.transform(X_new)), X_new, rtol=1e-12)
    assert np.all(ours.transform(X)[:, 2] == 0)


def test_standard_scaler_refuses_nan_and_wrong_width():
    X = numeric()
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="impute them"):
        StandardScaler().fit(X)
    with pytest.raises(ValueError, match="fitted on 4"):
        StandardScaler().fit(numeric()).transform(numeric()[:, :3])
    with pytest.raises(RuntimeError, match="not fitted"):
        StandardScaler().transform(numeric())


def test_one_hot_equals_sklearn_with_unknown_categories_ignored():
    X, X_new = categorical(), categorical(seed=1)
    X_new[0, 0], X_new[1, 1] = "purple", "xxl"  # unseen in fit
    ours = OneHotEncoder(handle_unknown="ignore").fit(X)
    ref = sk.OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(X)
    for a, b in zip(ours.categories_, ref.categories_):
        assert list(a) == list(b)
    np.testing.assert_array_equal(ours.transform(X_new), ref.transform(X_new))
    assert ours.transform(X_new)[0, :3].sum() == 0  # the unknown colour is a row of zeros in its block
    assert list(ours.get_feature_names_out(["colour", "size"])) == list(ref.get_feature_names_out(["colour", "size"]))


def test_one_hot_raises_on_unknown_by_default_and_on_missing():
    X, X_new = categorical(), categorical(seed=1)
    X_new[0, 0] = "purple"
    with pytest.raises(ValueError, match="'purple', not seen in fit.*handle_unknown='ignore'"):
        OneHotEncoder().fit(X).transform(X_new)
    X[2, 1] = None
    with pytest.raises(ValueError, match="missing values; impute"):
        OneHotEncoder().fit(X)


def test_ordinal_encoder_equals_sklearn_auto_given_order_and_unknown():
    X, X_new = categorical(), categorical(seed=1)
    X_new[0, 1] = "xxl"
    order = [["blue", "green", "red"], ["s", "m", "l", "xl"]]
    for kwargs in (dict(), dict(categories=order)):
        ours = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, **kwargs).fit(X)
        ref = sk.OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, **kwargs).fit(X)
        np.testing.assert_array_equal(ours.transform(X_new), ref.transform(X_new))
    with pytest.raises(ValueError, match="not seen in fit"):
        OrdinalEncoder().fit(X).transform(X_new)
    with pytest.raises(ValueError, match="not in the categories you gave"):
        OrdinalEncoder(categories=[["blue", "green"], order[1]]).fit(X)


@pytest.mark.parametrize("strategy", ["mean", "median", "most_frequent"])
def test_simple_imputer_equals_sklearn_on_numbers(strategy):
    X = np.round(numeric(), 0)  # rounded so most_frequent has repeats (and ties)
    rng = np.random.default_rng(3)
    X[rng.random(X.shape) < 0.2] = np.nan
    ours, ref = SimpleImputer(strategy=strategy).fit(X), sk_impute.SimpleImputer(strategy=strategy).fit(X)
    np.testing.assert_array_equal(ours.statistics_, ref.statistics_)
    X_new = numeric(seed=2)
    X_new[::3, 1] = np.nan
    np.testing.assert_array_equal(ours.transform(X_new), ref.transform(X_new))


def test_simple_imputer_most_frequent_on_text_and_bad_input():
    X = categorical()
    X[::5, 0] = None
    ours = SimpleImputer(strategy="most_frequent").fit(X)
    ref = sk_impute.SimpleImputer(strategy="most_frequent", missing_values=None).fit(X)
    assert list(ours.statistics_) == list(ref.statistics_)
    np.testing.assert_array_equal(ours.transform(X), ref.transform(X))
    with pytest.raises(ValueError, match="needs numeric columns"):
        SimpleImputer(strategy="mean").fit(X)
    empty = numeric()
    empty[:, 1] = np.nan
    with pytest.raises(ValueError, match=r"column\(s\) \[1\] have no observed value"):
        SimpleImputer().fit(empty)


@pytest.mark.parametrize("degree,interaction_only,include_bias", [(2, False, True), (3, False, False), (3, True, True)])
def test_polynomial_features_equal_sklearn(degree, interaction_only, include_bias):
    X = numeric(n=20)[:, :3] / 50
    ours = PolynomialFeatures(degree, interaction_only=interaction_only, include_bias=include_bias).fit(X)
    ref = sk.PolynomialFeatures(degree, interaction_only=interaction_only, include_bias=include_bias).fit(X)
    np.testing.assert_array_equal(ours.powers_, ref.powers_)
    np.testing.assert_allclose(ours.transform(X), ref.transform(X), rtol=1e-12, atol=1e-12)
    assert list(ours.get_feature_names_out()) == list(ref.get_feature_names_out())


def test_polynomial_hand_example():
    out = PolynomialFeatures(2).fit_transform(np.array([[2.0, 3.0]]))
    np.testing.assert_array_equal(out, [[1, 2, 3, 4, 6, 9]])  # 1, x1, x2, x1^2, x1 x2, x2^2


def test_transformers_work_in_sklearn_pipeline_and_column_transformer():
    """The same ColumnTransformer + Ridge, built from ours and from scikit-learn's, predicts the same numbers."""
    rng = np.random.default_rng(0)
    num, cat = numeric(n=80), categorical(n=80)
    frame = pd.DataFrame({"a": num[:, 0], "b": num[:, 1], "colour": cat[:, 0], "size": cat[:, 1]})
    frame.loc[rng.random(80) < 0.2, "b"] = np.nan
    frame.loc[rng.random(80) < 0.2, "colour"] = np.nan
    y = num[:, 0] + 0.01 * num[:, 1] + (cat[:, 0] == "red") + rng.normal(size=80)

    def model(lib_scaler, lib_imputer, lib_onehot, lib_poly):
        numeric_part = make_pipeline(lib_imputer(strategy="median"), lib_scaler(), lib_poly(2))
        categorical_part = make_pipeline(lib_imputer(strategy="most_frequent"), lib_onehot(handle_unknown="ignore"))
        columns = ColumnTransformer([("num", numeric_part, ["a", "b"]), ("cat", categorical_part, ["colour", "size"])])
        return make_pipeline(columns, Ridge(alpha=1.0))

    def sk_onehot(handle_unknown):
        return sk.OneHotEncoder(handle_unknown=handle_unknown, sparse_output=False)

    ours = model(StandardScaler, SimpleImputer, OneHotEncoder, PolynomialFeatures).fit(frame[:60], y[:60])
    ref = model(sk.StandardScaler, sk_impute.SimpleImputer, sk_onehot, sk.PolynomialFeatures).fit(frame[:60], y[:60])
    np.testing.assert_allclose(ours.predict(frame[60:]), ref.predict(frame[60:]), atol=1e-9)
    assert clone(ours).get_params()["columntransformer__num__simpleimputer__strategy"] == "median"


def test_get_and_set_params_follow_the_sklearn_protocol():
    poly = PolynomialFeatures(3).set_params(interaction_only=True)
    assert poly.get_params() == {"degree": 3, "interaction_only": True, "include_bias": True}
    with pytest.raises(ValueError, match="strategy must be"):
        SimpleImputer(strategy="mode").fit(numeric())
