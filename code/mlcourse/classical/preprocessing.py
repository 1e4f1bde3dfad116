"""Preprocessing transformers from scratch, each equal to its namesake in ``sklearn.preprocessing``/``impute``.

What it does: :class:`StandardScaler` (mean 0, standard deviation 1 per column), :class:`OneHotEncoder` (one
0/1 column per category; ``handle_unknown="ignore"`` gives an unseen category a row of zeros),
:class:`OrdinalEncoder` (each category its rank, or a categories order you give), :class:`SimpleImputer`
(``mean`` / ``median`` / ``most_frequent`` of the training column) and :class:`PolynomialFeatures` (every
product of at most ``degree`` columns, or only the products of distinct columns). Every class learns its
statistics in ``fit`` from the training rows only, and ``transform`` applies them to any rows: that is what
lets scikit-learn's ``Pipeline`` and ``ColumnTransformer`` refit them inside every cross-validation fold. They
subclass ``BaseEstimator`` and ``TransformerMixin`` only to inherit ``get_params`` / ``set_params`` /
``fit_transform``, the protocol those containers call; the arithmetic is NumPy.

What it does not do: sparse input or output (everything is a dense NumPy array), sample weights, an
``infrequent`` category, ``drop="first"``, NaN inside the scaler (impute first). Taught in chapter 10.
"""

from __future__ import annotations

from itertools import chain, combinations, combinations_with_replacement
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from mlcourse.classical.validation import check_X


def _fitted_width(model: Any, X: np.ndarray) -> None:
    """Raise unless ``model`` is fitted and ``X`` has the number of columns it was fitted on."""
    if getattr(model, "n_features_in_", None) is None:
        raise RuntimeError(f"this {type(model).__name__} is not fitted yet: call fit(X) before transform.")
    if X.shape[1] != model.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} columns but this {type(model).__name__} was fitted on "
                         f"{model.n_features_in_}.")  # fmt: skip


def _as_table(X: Any) -> np.ndarray:
    """Any 2-D table (a DataFrame, a list of rows, an array) as a 2-D NumPy array, types kept (object for text)."""
    X = np.asarray(X, dtype=object) if not isinstance(X, np.ndarray) and _has_text(X) else np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, (n_samples, n_features); got shape {X.shape} (one column? use "
                         "X.reshape(-1, 1)).")
    return X


def _has_text(X: Any) -> bool:
    dtypes = getattr(X, "dtypes", None)
    return dtypes is not None and any(dt == object or str(dt) in ("category", "string", "str") for dt in dtypes)


class _OneToOne:
    """``get_feature_names_out`` for transformers whose output column j is a function of input column j only."""

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The input names (``x0, x1, ...`` when none are given): the output columns keep them."""
        names = input_features if input_features is not None else [f"x{j}" for j in range(self.n_features_in_)]
        return np.asarray(names, dtype=object)


def is_missing(X: np.ndarray) -> np.ndarray:
    """Boolean mask of the missing entries of ``X`` (n, d): NaN in a numeric array, NaN or None in an object one."""
    if X.dtype.kind == "f":
        return np.isnan(X)
    if X.dtype.kind in "iub" or X.dtype.kind in "US":
        return np.zeros(X.shape, dtype=bool)
    return np.vectorize(lambda v: v is None or (isinstance(v, float) and v != v), otypes=[bool])(X)


class StandardScaler(_OneToOne, TransformerMixin, BaseEstimator):
    """z = (x - mean_) / scale_, column by column; ``scale_`` is the population standard deviation (ddof = 0).

    A constant column has standard deviation 0: its ``scale_`` is set to 1 so it maps to 0 instead of NaN.
    """

    def __init__(self, with_mean: bool = True, with_std: bool = True) -> None:
        self.with_mean = with_mean
        self.with_std = with_std

    def fit(self, X: Any, y: Any = None) -> StandardScaler:
        """Learn ``mean_`` (d,), ``var_`` (d,) and ``scale_`` (d,) from the training rows X (n, d)."""
        X = check_X(X)
        self.n_features_in_ = X.shape[1]
        self.mean_ = X.mean(axis=0)  # (d,)
        self.var_ = X.var(axis=0)  # (d,) divides by n, as scikit-learn does
        std = np.sqrt(self.var_)
        # scikit-learn treats a variance below ~10 eps * mean^2 as zero (rounding noise of a constant column)
        constant = self.var_ <= 10 * np.finfo(np.float64).eps * np.maximum(self.mean_**2, 1.0)
        self.scale_ = np.where(constant, 1.0, std) if self.with_std else None
        return self

    def transform(self, X: Any) -> np.ndarray:
        """(n, d) -> (n, d): subtract the training mean and divide by the training standard deviation."""
        X = check_X(X)
        _fitted_width(self, X)
        Z = X - self.mean_ if self.with_mean else X.copy()
        return Z / self.scale_ if self.with_std else Z

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """(n, d) standardised -> (n, d) in the original units."""
        Z = check_X(Z)
        X = Z * self.scale_ if self.with_std else Z.copy()
        return X + self.mean_ if self.with_mean else X


def _categories(column: np.ndarray, name: str) -> np.ndarray:
    """The sorted distinct values of one training column; missing values are refused (impute them first)."""
    if is_missing(column[:, None]).any():
        raise ValueError(f"column {name} has missing values; impute them first (SimpleImputer(strategy="
                         "'most_frequent'), or a constant 'missing' category).")  # fmt: skip
    return np.unique(column)


class OneHotEncoder(TransformerMixin, BaseEstimator):
    """One 0/1 column per (column, category) pair, categories sorted, columns in input order.

    ``handle_unknown="error"`` raises on a category not seen in ``fit``; ``"ignore"`` encodes it as all zeros.
    The output is dense, scikit-learn's ``OneHotEncoder(sparse_output=False)``.
    """

    def __init__(self, handle_unknown: str = "error") -> None:
        self.handle_unknown = handle_unknown

    def fit(self, X: Any, y: Any = None) -> OneHotEncoder:
        """Learn ``categories_``: one sorted array of the distinct values per column of X (n, d)."""
        if self.handle_unknown not in ("error", "ignore"):
            raise ValueError(f"handle_unknown must be 'error' or 'ignore', got {self.handle_unknown!r}.")
        X = _as_table(X)
        self.n_features_in_ = X.shape[1]
        self.categories_ = [_categories(X[:, j], f"{j}") for j in range(X.shape[1])]
        return self

    def transform(self, X: Any) -> np.ndarray:
        """(n, d) -> (n, sum of len(categories_[j])) float64 of 0s and 1s."""
        X = _as_table(X)
        _fitted_width(self, X)
        blocks = []
        for j, cats in enumerate(self.categories_):
            block = (X[:, j, None] == cats[None, :]).astype(np.float64)  # (n, k_j): at most one 1 per row
            unknown = block.sum(axis=1) == 0
            if unknown.any() and self.handle_unknown == "error":
                raise ValueError(f"column {j} has the category {X[unknown, j][0]!r}, not seen in fit; pass "
                                 "handle_unknown='ignore' to encode unknown categories as all zeros.")  # fmt: skip
            blocks.append(block)
        return np.hstack(blocks)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names ``"<column>_<category>"`` of the output columns, as scikit-learn writes them."""
        names = input_features if input_features is not None else [f"x{j}" for j in range(self.n_features_in_)]
        return np.array([f"{n}_{c}" for n, cats in zip(names, self.categories_) for c in cats], dtype=object)


class OrdinalEncoder(_OneToOne, TransformerMixin, BaseEstimator):
    """Each category replaced by its index in ``categories_`` (sorted, or the order you pass per column).

    ``categories="auto"`` sorts the training values (alphabetical for text: "high" < "low" < "medium");
    pass the meaningful order, e.g. ``[["low", "medium", "high"]]``, when there is one. ``handle_unknown=
    "use_encoded_value"`` maps unseen categories to ``unknown_value`` (e.g. -1 or NaN) instead of raising.
    """

    def __init__(self, categories: Any = "auto", handle_unknown: str = "error",
                 unknown_value: float | None = None) -> None:
        self.categories = categories
        self.handle_unknown = handle_unknown
        self.unknown_value = unknown_value

    def fit(self, X: Any, y: Any = None) -> OrdinalEncoder:
        """Learn ``categories_`` from X (n, d), or check the given ones cover the training values."""
        if self.handle_unknown == "use_encoded_value" and self.unknown_value is None:
            raise ValueError("handle_unknown='use_encoded_value' needs an unknown_value (e.g. -1 or np.nan).")
        X = _as_table(X)
        self.n_features_in_ = X.shape[1]
        if isinstance(self.categories, str) and self.categories == "auto":
            self.categories_ = [_categories(X[:, j], f"{j}") for j in range(X.shape[1])]
        else:
            dtype = X.dtype if X.dtype.kind != "U" else object
            self.categories_ = [np.asarray(c, dtype=dtype) for c in self.categories]
            if len(self.categories_) != X.shape[1]:
                raise ValueError(f"categories lists {len(self.categories_)} columns but X has {X.shape[1]}.")
            for j, cats in enumerate(self.categories_):
                extra = set(np.unique(X[:, j]).tolist()) - set(cats.tolist())
                if extra:
                    raise ValueError(f"column {j} has values {sorted(map(str, extra))} not in the categories you gave.")
        return self

    def transform(self, X: Any) -> np.ndarray:
        """(n, d) -> (n, d) float64 of category indices (``unknown_value`` for unseen categories)."""
        X = _as_table(X)
        _fitted_width(self, X)
        codes = np.empty(X.shape, dtype=np.float64)
        for j, cats in enumerate(self.categories_):
            match = X[:, j, None] == cats[None, :]  # (n, k_j)
            unknown = ~match.any(axis=1)
            if unknown.any() and self.handle_unknown != "use_encoded_value":
                raise ValueError(f"column {j} has the category {X[unknown, j][0]!r}, not seen in fit; pass "
                                 "handle_unknown='use_encoded_value' with an unknown_value.")  # fmt: skip
            codes[:, j] = np.where(unknown, self.unknown_value if unknown.any() else 0.0, match.argmax(axis=1))
        return codes


class SimpleImputer(_OneToOne, TransformerMixin, BaseEstimator):
    """Replace missing entries (NaN, or None in text columns) by a statistic of the training column.

    ``strategy``: ``"mean"`` or ``"median"`` (numeric columns), ``"most_frequent"`` (any column; ties go to the
    smallest value, as in scikit-learn). A training column with no observed value at all is refused.
    """

    def __init__(self, strategy: str = "mean") -> None:
        self.strategy = strategy

    def fit(self, X: Any, y: Any = None) -> SimpleImputer:
        """Learn ``statistics_`` (d,): the value that fills each column's gaps."""
        if self.strategy not in ("mean", "median", "most_frequent"):
            raise ValueError(f"strategy must be 'mean', 'median' or 'most_frequent', got {self.strategy!r}.")
        X = _as_table(X)
        if self.strategy != "most_frequent":
            try:
                X = X.astype(np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"strategy={self.strategy!r} needs numeric columns; use 'most_frequent' for "
                                 "categories.") from None  # fmt: skip
        missing = is_missing(X)
        empty = np.nonzero(missing.all(axis=0))[0]
        if len(empty):
            raise ValueError(f"column(s) {empty.tolist()} have no observed value to learn a {self.strategy} from.")
        self.n_features_in_ = X.shape[1]
        stats = []
        for j in range(X.shape[1]):
            observed = X[~missing[:, j], j]
            if self.strategy == "mean":
                stats.append(observed.mean())
            elif self.strategy == "median":
                stats.append(np.median(observed))
            else:
                values, counts = np.unique(observed, return_counts=True)  # sorted: argmax picks the smallest tie
                stats.append(values[np.argmax(counts)])
        self.statistics_ = np.array(stats, dtype=X.dtype)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """(n, d) -> (n, d) with every missing entry of column j replaced by ``statistics_[j]``."""
        X = _as_table(X)
        _fitted_width(self, X)
        X = X.astype(self.statistics_.dtype, copy=True)
        rows, cols = np.nonzero(is_missing(X))
        X[rows, cols] = self.statistics_[cols]
        return X


class PolynomialFeatures(TransformerMixin, BaseEstimator):
    """Every product of at most ``degree`` input columns (x1, x2 -> 1, x1, x2, x1², x1 x2, x2² for degree 2).

    ``interaction_only=True`` keeps only products of distinct columns (no x1²). ``powers_`` (n_out, d) holds
    each output column's exponents, in scikit-learn's order: by degree, then lexicographic in the columns.
    """

    def __init__(self, degree: int = 2, interaction_only: bool = False, include_bias: bool = True) -> None:
        self.degree = degree
        self.interaction_only = interaction_only
        self.include_bias = include_bias

    def fit(self, X: Any, y: Any = None) -> PolynomialFeatures:
        """Learn the number of input columns and the exponent table ``powers_``."""
        if not isinstance(self.degree, (int, np.integer)) or self.degree < 0:
            raise ValueError(f"degree must be a non-negative integer, got {self.degree!r}.")
        X = check_X(X)
        d = self.n_features_in_ = X.shape[1]
        choose = combinations if self.interaction_only else combinations_with_replacement
        start = 0 if self.include_bias else 1
        combos = chain.from_iterable(choose(range(d), k) for k in range(start, self.degree + 1))
        self.powers_ = np.array([np.bincount(c, minlength=d) for c in combos], dtype=np.int64).reshape(-1, d)
        self.n_output_features_ = len(self.powers_)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """(n, d) -> (n, n_output_features_): column k is the product of x_j ** powers_[k, j]."""
        X = check_X(X)
        _fitted_width(self, X)
        return np.prod(X[:, None, :] ** self.powers_[None, :, :], axis=2)  # (n, n_out, d) -> (n, n_out)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names such as ``"1"``, ``"x0"``, ``"x0^2"``, ``"x0 x1"``, as scikit-learn writes them."""
        names = input_features if input_features is not None else [f"x{j}" for j in range(self.n_features_in_)]
        out = []
        for row in self.powers_:
            terms = [n if p == 1 else f"{n}^{p}" for n, p in zip(names, row) if p > 0]
            out.append(" ".join(terms) if terms else "1")
        return np.array(out, dtype=object)
