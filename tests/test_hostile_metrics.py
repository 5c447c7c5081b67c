"""The shipped metrics under hostile input: non-finite scores, invalid cut-offs, chunk sizes, texts and ids are
refused with a clear ValueError (never a silently wrong, NaN or infinite value); a table per metric, plus the
plain functions the package calls."""

from __future__ import annotations

import math

import numpy as np
import pytest

from signclip_hf.metric_functions import classification_metrics, retrieval_metrics
from signclip_hf.metrics import load_metric

NAN, INF = math.nan, math.inf
GOOD = [[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 4.0]]


@pytest.fixture(scope="module")
def classification():
    return load_metric("classification")


@pytest.fixture(scope="module")
def retrieval():
    return load_metric("retrieval")


CLASSIFICATION_REFUSED = [
    (dict(predictions=[[NAN, 0.9]], references=[0]), "NaN or infinite"),
    (dict(predictions=[[NAN, NAN]], references=[0]), "NaN or infinite"),
    (dict(predictions=[[INF, 0.9]], references=[1]), "NaN or infinite"),
    (dict(predictions=[[-INF, 0.9]], references=[1]), "NaN or infinite"),
    (dict(predictions=GOOD, references=[0, 1, 2], ks=(0,)), "ks must be whole numbers >= 1"),
    (dict(predictions=GOOD, references=[0, 1, 2], ks=(-1,)), "ks must be whole numbers >= 1"),
    (dict(predictions=GOOD, references=[0, 1, 2], ks=(1.5,)), "ks must be whole numbers >= 1"),
    (dict(predictions=GOOD, references=[0, 1, 2], ks=(True,)), "ks must be whole numbers >= 1"),
    (dict(predictions=GOOD, references=[0, 1, 2], ks="1"), "ks must be whole numbers >= 1"),
    (dict(predictions=GOOD, references=[0, 1, 3]), "references must be class ids in [0, 3)"),
    (dict(predictions=GOOD, references=[0, 1, -1]), "references must be class ids in [0, 3)"),
]

RETRIEVAL_REFUSED = [
    (dict(predictions=[[NAN, 1.0], [0.0, 3.0]], references=[0, 1]), "NaN or infinite"),
    (dict(predictions=[[INF, 1.0], [0.0, 3.0]], references=[0, 1]), "NaN or infinite"),
    (dict(predictions=GOOD, references=[0, 1, 2], ks=(0,)), "ks must be whole numbers >= 1"),
    (dict(predictions=GOOD, references=[0, 1, 2], ks=(-1,)), "ks must be whole numbers >= 1"),
    (dict(predictions=GOOD, references=[0, 1, 2], ks=(1.5,)), "ks must be whole numbers >= 1"),
    (dict(predictions=GOOD, references=[0, 1, 2], chunk_size=-1), "chunk_size must be a whole number >= 1"),
    (dict(predictions=GOOD, references=[0, 1, 2], chunk_size=0), "chunk_size must be a whole number >= 1"),
    (dict(predictions=GOOD, references=[0, 1, 2], chunk_size=1.5), "chunk_size must be a whole number >= 1"),
    (dict(predictions=GOOD, references=[0, 1, 2], texts=[1, None, "a"]), "texts must be strings: entry 0 is int"),
    (dict(predictions=GOOD, references=[0, 1, 2], texts="abc"), "not one string"),
    (dict(predictions=GOOD, references=[0, 1, 2], texts=["a", "b"]), "texts has 2 entries"),
    (dict(predictions=GOOD, references=[0, 1, 9]), "references must be text columns in [0, 3)"),
]


@pytest.mark.parametrize("kwargs, pattern", CLASSIFICATION_REFUSED)
def test_classification_refuses_hostile_input(classification, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        classification.compute(**kwargs)


@pytest.mark.parametrize("kwargs, pattern", RETRIEVAL_REFUSED)
def test_retrieval_refuses_hostile_input(retrieval, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        retrieval.compute(**kwargs)


def test_plain_functions_refuse_what_the_modules_cannot_carry():
    """Inputs `evaluate` would cast away (float ids, ragged rows, empty inputs) reach the plain functions."""
    for scores, references, pattern in (
        (GOOD, [0.5, 1, 2], "references must be whole numbers"),
        ([[1.0, 2.0], [1.0]], [0, 1], "predictions must be a matrix of numbers"),
        ([1.0, 2.0], [0], "predictions must be a 2-D matrix"),
        ([["a", "b"]], [0], "predictions must be a matrix of numbers"),
        (np.zeros((0, 3)), [], "no examples to score"),
    ):
        with pytest.raises(ValueError, match=pattern):
            classification_metrics(scores, references)
    with pytest.raises(ValueError, match="no poses to score"):
        retrieval_metrics(np.zeros((0, 3)), [])
    with pytest.raises(ValueError, match="references must be a list of whole numbers"):
        retrieval_metrics(GOOD, ["a", "b", "c"])


def test_valid_edge_cases_give_correct_finite_values(classification, retrieval):
    result = classification.compute(predictions=GOOD, references=[0, 1, 2], ks=5)  # one int k, capped at 3 classes
    assert result == {"top5_accuracy": 1.0, "macro_accuracy": 1.0, "num_examples": 3}
    huge = classification.compute(predictions=[[1e30, -1e30], [-1e30, 1e30]], references=[1, 1], ks=(1,))
    assert huge["top1_accuracy"] == 0.5
    tied = retrieval.compute(predictions=np.ones((3, 3)), references=[0, 1, 2], ks=(1, 10**6), chunk_size=1)
    assert tied["v2t_R@1"] == 0.0 and tied["t2v_MedianR"] == 3.0 and tied[f"t2v_P@{10**6}"] == pytest.approx(1e-6)
    assert all(math.isfinite(v) for v in tied.values())
    same = retrieval.compute(predictions=GOOD, references=[0, 1, 2], texts=["a", "a", "b"], ks=(1,))
    assert same["num_text_queries"] == 2 and all(math.isfinite(v) for v in same.values())
