"""Tabular preprocessing (train-only statistics, missing values, unseen categories, JSON round
trip) and the one-token-per-variable tokenizer."""

from __future__ import annotations

import json

import pytest
import torch

from hybridnets.data.tabular import (
    MISSING_INDEX,
    UNKNOWN_INDEX,
    TabularFormatError,
    TabularPreprocessor,
)
from hybridnets.multimodal import TabularClassifier, TabularTokenizer

TRAIN = [
    {"age": "40", "sex": "male", "site": "back"},
    {"age": "60", "sex": "female", "site": "face"},
    {"age": "", "sex": "", "site": "back"},
    {"age": "50", "sex": "male", "site": "NaN"},
]
TEST = [
    {"age": "70", "sex": "female", "site": "scalp"},  # scalp: unseen in training
    {"age": "n/a", "sex": "male", "site": None},
]


def fitted() -> TabularPreprocessor:
    return TabularPreprocessor(["age"], ["sex", "site"]).fit(TRAIN)


def test_statistics_come_from_train_rows_only() -> None:
    pre = fitted()
    assert pre.mean["age"] == pytest.approx(50.0) and pre.std["age"] == pytest.approx(10.0)
    assert pre.categories == {"sex": ["female", "male"], "site": ["back", "face"]}
    assert pre.spec.categorical == (("sex", 4), ("site", 4)) and pre.spec.num_vars == 3


def test_missing_values_and_unseen_categories() -> None:
    numeric, missing, categorical = fitted().transform(TEST)
    assert numeric[:, 0].tolist() == pytest.approx([2.0, 0.0])
    assert missing[:, 0].tolist() == [False, True]
    # female = 2, male = 3; scalp unseen → unknown; None → missing
    assert categorical.tolist() == [[2, UNKNOWN_INDEX], [3, MISSING_INDEX]]
    _, train_missing, train_cat = fitted().transform(TRAIN)
    assert train_missing[:, 0].tolist() == [False, False, True, False]
    assert train_cat[2, 0] == MISSING_INDEX and train_cat[3, 1] == MISSING_INDEX


def test_round_trip_through_json_gives_identical_tensors() -> None:
    pre = fitted()
    again = TabularPreprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    for a, b in zip(pre.transform(TRAIN + TEST), again.transform(TRAIN + TEST)):
        assert a.dtype == b.dtype and torch.equal(a, b)
    assert again.spec == pre.spec


def test_infer_column_types() -> None:
    pre = TabularPreprocessor.infer(TRAIN, ["age", "sex"])
    assert pre.numeric == ("age",) and pre.categorical == ("sex",)
    assert TabularPreprocessor.infer(TRAIN, ["age:cat"]).categorical == ("age",)
    typo = [{"age": str(20 + i)} for i in range(9)] + [{"age": "forty"}]  # one rule everywhere
    pre = TabularPreprocessor.infer(typo, ["age"])
    assert pre.numeric == ("age",)
    with pytest.raises(TabularFormatError, match="'forty' is not a number"):
        pre.fit(typo)


def test_errors_name_the_column() -> None:
    with pytest.raises(TabularFormatError, match=r"numeric column 'sex', row 0: 'male'"):
        TabularPreprocessor(["sex"]).fit(TRAIN)
    with pytest.raises(TabularFormatError, match=r"row 0 has no column 'weight'"):
        TabularPreprocessor(["weight"]).fit(TRAIN)
    with pytest.raises(TabularFormatError, match="both numeric and categorical"):
        TabularPreprocessor(["age"], ["age"])
    with pytest.raises(RuntimeError, match="fit the preprocessor"):
        TabularPreprocessor(["age"]).transform(TRAIN)


def test_tokenizer_one_token_per_variable_and_missing_token() -> None:
    pre = fitted()
    tokenizer = TabularTokenizer(pre.spec, dim=8)
    numeric, missing, categorical = pre.transform(TRAIN)
    tokens = tokenizer(numeric, missing, categorical)
    assert tokens.shape == (4, 3, 8)
    assert torch.equal(tokens[2, 0], tokenizer.missing_token[0])  # missing age → learned token
    expected = numeric[0, 0] * tokenizer.weight[0] + tokenizer.bias[0]
    assert torch.allclose(tokens[0, 0], expected)


def test_table_only_classifier() -> None:
    pre = fitted()
    logits = TabularClassifier(pre.spec, num_classes=3, dim=8)(*pre.transform(TEST))
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
