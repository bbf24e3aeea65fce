"""Clinical columns as model inputs: a preprocessor fitted on the training rows only (the
tokenizer that turns its output into one token per variable is
:class:`hybridnets.multimodal.tabular.TabularTokenizer`).

Numeric columns are standardised with the training mean and std; a missing numeric is flagged
and its token replaced by a learned per-column missing-value token. Categorical columns map to
indices in one embedding table each: ``0`` missing, ``1`` unknown (a category the training rows
never showed), ``2 + k`` the k-th training category. :meth:`TabularPreprocessor.to_dict` is JSON,
so a checkpoint stores it beside the weights.

    pre = TabularPreprocessor(numeric=["age"], categorical=["sex", "site"]).fit(train_rows)
    numeric, numeric_missing, categorical = pre.transform(test_rows)   # a TabularBatch
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor

__all__ = [
    "COLUMN_KINDS",
    "MISSING_INDEX",
    "MISSING_VALUES",
    "UNKNOWN_INDEX",
    "TabularBatch",
    "TabularFormatError",
    "TabularPreprocessor",
    "TabularSpec",
    "column_kinds",
    "parse_columns",
]

_logger = logging.getLogger(__name__)

MISSING_INDEX = 0  # categorical index of a missing value
UNKNOWN_INDEX = 1  # categorical index of a category unseen in the training rows
MISSING_VALUES = ("", "na", "n/a", "nan", "none", "null")
"""Cell texts read as missing (case-insensitive, stripped); None and float NaN are missing too."""

Row = Mapping[str, Any]


class TabularFormatError(ValueError):
    """A table cell or column does not fit the preprocessor; the message names the column."""


@dataclass(frozen=True)
class TabularSpec:
    """What the tokenizer needs: the numeric column names and, per categorical column, the
    size of its embedding table (categories + the missing and unknown rows)."""

    numeric: tuple[str, ...] = ()
    categorical: tuple[tuple[str, int], ...] = ()

    @property
    def num_vars(self) -> int:
        """Tokens per row: one per numeric and one per categorical column."""
        return len(self.numeric) + len(self.categorical)


class TabularBatch(NamedTuple):
    """``numeric`` float ``(N, n_num)`` (0 where missing), ``numeric_missing`` bool
    ``(N, n_num)``, ``categorical`` long ``(N, n_cat)``."""

    numeric: Tensor
    numeric_missing: Tensor
    categorical: Tensor


def _is_missing(value: Any, missing_values: Sequence[str]) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in missing_values


def _cell(row: Row, column: str, i: int) -> Any:
    try:
        return row[column]
    except KeyError:
        raise TabularFormatError(
            f"row {i} has no column {column!r}; it has {sorted(row)}. Check the column names "
            "given to the preprocessor"
        ) from None


COLUMN_KINDS = ("num", "cat")
"""Declared kinds in a column list (``age:num``, ``site:cat``)."""


def parse_columns(spec: str | Sequence[str] | None) -> dict[str, str | None]:
    """``"age,sex:cat"`` → ``{"age": None, "sex": "cat"}``: the columns in order, each with
    its declared kind (None: inferred from the cells).

    Raises:
        TabularFormatError: A kind other than num or cat.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec or ())
    out: dict[str, str | None] = {}
    for item in (i.strip() for i in items if i and i.strip()):
        name, _, kind = item.partition(":")
        if kind and kind not in COLUMN_KINDS:
            raise TabularFormatError(f"column {item!r}: the kind after ':' must be num or cat")
        out[name.strip()] = kind or None
    return out


def column_kinds(
    rows: Sequence[Row],
    columns: Mapping[str, str | None],
    missing_values: Sequence[str] = MISSING_VALUES,
) -> tuple[list[str], list[str], dict[str, int]]:
    """Numeric and categorical columns, decided over every row of the table, and the first
    row holding text in each numeric column (empty when none).

    A column is numeric when declared ``num``, or undeclared and most of its present cells
    (at least 80 %) are numbers; text in a numeric column is a mistake to report, not a
    reason to treat ages as 21 categories. Declare ``cat`` for codes that look like numbers.
    """
    missing = tuple(v.lower() for v in missing_values)
    numeric, categorical, text_at = [], [], {}
    for column, kind in columns.items():
        present = [
            (i, c) for i, r in enumerate(rows) if not _is_missing(c := _cell(r, column, i), missing)
        ]
        bad = []
        for i, cell in present:
            try:
                float(cell)
            except (TypeError, ValueError):
                bad.append(i)
        is_numeric = kind == "num" or (kind is None and len(bad) <= 0.2 * len(present))
        if is_numeric and present and len(bad) == len(present):
            is_numeric = kind == "num"
        (numeric if is_numeric else categorical).append(column)
        if is_numeric and bad:
            text_at[column] = bad[0]
    return numeric, categorical, text_at


class TabularPreprocessor:
    """Standardises numeric columns and indexes categorical ones, fitted on training rows only.

    Args:
        numeric: Numeric column names (parsed with ``float``).
        categorical: Categorical column names (values compared as stripped strings).
        missing_values: Cell texts read as missing.

    ``TabularPreprocessor(["age"], ["sex"]).fit(rows).transform(rows).numeric.shape == (N, 1)``
    """

    def __init__(
        self,
        numeric: Sequence[str] = (),
        categorical: Sequence[str] = (),
        missing_values: Sequence[str] = MISSING_VALUES,
    ) -> None:
        both = set(numeric) & set(categorical)
        if both:
            raise TabularFormatError(f"columns {sorted(both)} are both numeric and categorical")
        if not numeric and not categorical:
            raise TabularFormatError("give at least one numeric or categorical column")
        self.numeric = tuple(numeric)
        self.categorical = tuple(categorical)
        self.missing_values = tuple(v.lower() for v in missing_values)
        self.mean: dict[str, float] = {}
        self.std: dict[str, float] = {}
        self.categories: dict[str, list[str]] = {}

    @classmethod
    def infer(
        cls,
        rows: Sequence[Row],
        columns: Sequence[str],
        missing_values: Sequence[str] = MISSING_VALUES,
    ) -> TabularPreprocessor:
        """Unfitted preprocessor with the column kinds :func:`column_kinds` infers from
        ``rows`` (``columns`` may declare kinds: ``["age", "site:cat"]``); text in a numeric
        column is then an error when the preprocessor is fitted or applied.

        ``TabularPreprocessor.infer(train_rows, ["age", "sex"]).fit(train_rows)``
        """
        numeric, categorical, _ = column_kinds(rows, parse_columns(columns), missing_values)
        return cls(numeric, categorical, missing_values)

    @property
    def spec(self) -> TabularSpec:
        """The :class:`TabularSpec` a :class:`~hybridnets.multimodal.TabularTokenizer` is built from."""
        self._check_fitted()
        sizes = tuple((c, len(self.categories[c]) + 2) for c in self.categorical)
        return TabularSpec(self.numeric, sizes)

    def _numbers(self, rows: Sequence[Row], column: str) -> list[float | None]:
        out: list[float | None] = []
        for i, row in enumerate(rows):
            cell = _cell(row, column, i)
            if _is_missing(cell, self.missing_values):
                out.append(None)
                continue
            try:
                out.append(float(cell))
            except (TypeError, ValueError):
                raise TabularFormatError(
                    f"numeric column {column!r}, row {i}: {cell!r} is not a number; list the "
                    "column as categorical, or mark missing cells empty"
                ) from None
        return out

    def fit(self, rows: Sequence[Row]) -> TabularPreprocessor:
        """Learn means, stds and category lists from ``rows`` (the training split only)."""
        if not rows:
            raise TabularFormatError("cannot fit the tabular preprocessor on zero rows")
        for column in self.numeric:
            values = torch.tensor([v for v in self._numbers(rows, column) if v is not None])
            if values.numel() == 0:
                _logger.warning("numeric column %r is missing in every training row", column)
            std = values.double().std().item() if values.numel() > 1 else 0.0
            self.mean[column] = values.double().mean().item() if values.numel() else 0.0
            self.std[column] = std if std > 0 else 1.0  # constant column: centred only
        for column in self.categorical:
            cells = (_cell(r, column, i) for i, r in enumerate(rows))
            present = {str(c).strip() for c in cells if not _is_missing(c, self.missing_values)}
            self.categories[column] = sorted(present)
        return self

    def _check_fitted(self) -> None:
        if len(self.mean) != len(self.numeric) or len(self.categories) != len(self.categorical):
            raise RuntimeError("fit the preprocessor on the training rows first (or from_dict)")

    def transform(self, rows: Sequence[Row]) -> TabularBatch:
        """Rows (mappings column → cell) → :class:`TabularBatch` of ``len(rows)``."""
        self._check_fitted()
        n = len(rows)
        numeric = torch.zeros(n, len(self.numeric))  # (N, n_num)
        missing = torch.zeros(n, len(self.numeric), dtype=torch.bool)
        for j, column in enumerate(self.numeric):
            for i, v in enumerate(self._numbers(rows, column)):
                if v is None:
                    missing[i, j] = True
                else:
                    numeric[i, j] = (v - self.mean[column]) / self.std[column]
        categorical = torch.zeros(n, len(self.categorical), dtype=torch.long)  # (N, n_cat)
        for j, column in enumerate(self.categorical):
            index = {c: k + 2 for k, c in enumerate(self.categories[column])}
            for i, row in enumerate(rows):
                cell = _cell(row, column, i)
                missing_cell = _is_missing(cell, self.missing_values)
                categorical[i, j] = (
                    MISSING_INDEX if missing_cell else index.get(str(cell).strip(), UNKNOWN_INDEX)
                )
        return TabularBatch(numeric, missing, categorical)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (column names, statistics, categories) for a checkpoint."""
        self._check_fitted()
        return {
            "version": 1,
            "numeric": {c: {"mean": self.mean[c], "std": self.std[c]} for c in self.numeric},
            "categorical": {c: list(self.categories[c]) for c in self.categorical},
            "missing_values": list(self.missing_values),
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> TabularPreprocessor:
        """Rebuild a fitted preprocessor from :meth:`to_dict`'s output."""
        if state.get("version") != 1:
            raise TabularFormatError(f"unknown tabular preprocessor version {state.get('version')}")
        pre = cls(list(state["numeric"]), list(state["categorical"]), state["missing_values"])
        for column, stats in state["numeric"].items():
            pre.mean[column], pre.std[column] = float(stats["mean"]), float(stats["std"])
        pre.categories = {c: [str(v) for v in cats] for c, cats in state["categorical"].items()}
        return pre
