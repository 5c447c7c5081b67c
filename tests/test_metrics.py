"""The shipped `evaluate` metric modules against hand-computed cases (ties, duplicates, best / worst)."""

import numpy as np
import pytest

from signclip_hf.metrics import load_metric, metric_path


@pytest.fixture(scope="module")
def retrieval():
    return load_metric("retrieval")


@pytest.fixture(scope="module")
def classification():
    return load_metric("classification")


def test_metrics_load_by_path_offline(retrieval, classification):
    assert metric_path("retrieval").joinpath("retrieval.py").is_file()
    assert retrieval.name == "retrieval" and classification.name == "classification"
    with pytest.raises(ValueError, match="shipped metrics: retrieval, classification"):
        metric_path("accuracy")


def test_retrieval_perfect_ranking(retrieval):
    scores = np.eye(12) * 5.0
    result = retrieval.compute(predictions=scores, references=np.arange(12))
    assert result["t2v_P@1"] == 1.0
    assert result["t2v_P@5"] == pytest.approx(1 / 5)  # one relevant pose per text
    assert result["t2v_P@10"] == pytest.approx(1 / 10)
    assert result["v2t_R@1"] == result["v2t_R@5"] == result["v2t_R@10"] == 1.0
    assert result["t2v_MedianR"] == result["t2v_MeanR"] == result["v2t_MedianR"] == result["v2t_MeanR"] == 1.0
    assert result["num_text_queries"] == 12 and result["num_pose_queries"] == 12


def test_retrieval_worst_ranking(retrieval):
    scores = -np.eye(12)  # the own item always scores lowest
    result = retrieval.compute(predictions=scores, references=np.arange(12))
    assert result["t2v_P@1"] == result["t2v_P@10"] == 0.0
    assert result["v2t_R@1"] == result["v2t_R@10"] == 0.0
    assert result["t2v_MedianR"] == result["t2v_MeanR"] == 12.0
    assert result["v2t_MedianR"] == result["v2t_MeanR"] == 12.0


def test_retrieval_ties_are_pessimistic(retrieval):
    # Constant scores: every relevant item is ranked after all the tied irrelevant ones.
    result = retrieval.compute(predictions=np.zeros((4, 4)), references=np.arange(4), ks=(1, 4))
    assert result["t2v_P@1"] == 0.0 and result["v2t_R@1"] == 0.0
    assert result["t2v_P@4"] == pytest.approx(1 / 4) and result["v2t_R@4"] == 1.0
    assert result["t2v_MedianR"] == result["v2t_MedianR"] == 4.0
    # A tie with one other item costs exactly one rank.
    scores = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
    result = retrieval.compute(predictions=scores, references=[0, 1, 2], ks=(1,))
    # pose 0 vs texts: own text 0 tied with text 1 -> rank 2; poses 1, 2 rank 1
    assert result["v2t_R@1"] == pytest.approx(2 / 3)
    assert result["v2t_MeanR"] == pytest.approx(4 / 3)
    # text 0 vs poses (column 0: 1, 0, 0): rank 1; text 1 (column 1: 1, 2, 0): rank 1; text 2: rank 1
    assert result["t2v_P@1"] == 1.0


def test_retrieval_deduplicates_prompts(retrieval):
    # 4 poses, texts: "a", "b", "a", "c" (pose i paired with text i); the duplicate "a" columns are one prompt.
    texts = ["a", "b", "a", "c"]
    scores = np.array(
        [
            [0.9, 0.5, 0.9, 0.1],  # pose 0 (a): a first
            [0.2, 0.8, 0.2, 0.9],  # pose 1 (b): c, b -> rank 2
            [0.7, 0.1, 0.7, 0.3],  # pose 2 (a): a first
            [0.6, 0.4, 0.6, 0.5],  # pose 3 (c): a, c -> rank 2 (without dedup: a, a, c -> rank 3)
        ]
    )
    result = retrieval.compute(predictions=scores, references=np.arange(4), texts=texts, ks=(1, 2))
    assert result["num_text_queries"] == 3  # a, b, c
    assert result["v2t_R@1"] == pytest.approx(2 / 4)
    assert result["v2t_R@2"] == 1.0
    assert result["v2t_MeanR"] == pytest.approx((1 + 2 + 1 + 2) / 4)
    assert result["v2t_MedianR"] == pytest.approx(1.5)
    # text->pose: query "a" (relevant poses 0, 2): column a = (0.9, 0.2, 0.7, 0.6) -> poses 0, 2 on top
    #   -> P@1 1, P@2 1, first rank 1; query "b": column (0.5, 0.8, 0.1, 0.4) -> pose 1 first: P@1 1, P@2 1/2
    #   query "c": column (0.1, 0.9, 0.3, 0.5) -> pose 1, then pose 3: P@1 0, P@2 1/2, first rank 2
    assert result["t2v_P@1"] == pytest.approx(2 / 3)
    assert result["t2v_P@2"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert result["t2v_MedianR"] == 1.0
    assert result["t2v_MeanR"] == pytest.approx(4 / 3)
    # duplicate prompts with different scores: the prompt's score is the max over its copies
    merged = retrieval.compute(predictions=np.c_[scores[:, :2], scores[:, 2] - 5, scores[:, 3]],
                               references=np.arange(4), texts=texts, ks=(1, 2))
    assert merged == result


def test_retrieval_chunking_does_not_change_results(retrieval):
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(50, 20)).round(1)  # rounding makes many ties
    references = rng.integers(0, 20, size=50)
    texts = [f"t{i % 7}" for i in range(20)]
    one = retrieval.compute(predictions=scores, references=references, texts=texts, chunk_size=1000)
    many = retrieval.compute(predictions=scores, references=references, texts=texts, chunk_size=3)
    assert one == many


def test_retrieval_rejects_bad_input(retrieval):
    with pytest.raises(ValueError, match="references must be text columns"):
        retrieval.compute(predictions=np.zeros((2, 2)), references=[0, 5])
    with pytest.raises(ValueError, match="texts has 3 entries"):
        retrieval.compute(predictions=np.zeros((2, 2)), references=[0, 1], texts=["a", "b", "c"])


def test_classification_hand_computed(classification):
    scores = np.array(
        [
            [0.9, 0.1, 0.0],  # true 0, predicted 0
            [0.2, 0.7, 0.1],  # true 0, predicted 1 (true class second)
            [0.1, 0.8, 0.1],  # true 1, predicted 1
            [0.3, 0.3, 0.4],  # true 2, predicted 2
        ]
    )
    result = classification.compute(predictions=scores, references=[0, 0, 1, 2], ks=(1, 2))
    assert result["top1_accuracy"] == pytest.approx(3 / 4)
    assert result["top2_accuracy"] == 1.0
    assert result["macro_accuracy"] == pytest.approx((0.5 + 1 + 1) / 3)  # mean per-class recall
    assert result["num_examples"] == 4


def test_classification_ties_worst_and_top5_cap(classification):
    # all classes tied: never correct at top-1, within top-k only when k covers every class
    tied = classification.compute(predictions=np.zeros((3, 3)), references=[0, 1, 2], ks=(1, 2, 5))
    assert tied["top1_accuracy"] == tied["top2_accuracy"] == 0.0
    assert tied["top5_accuracy"] == 1.0  # fewer than 5 classes: top-5 = top-3
    worst = classification.compute(predictions=-np.eye(6), references=np.arange(6))
    assert worst["top1_accuracy"] == worst["top5_accuracy"] == worst["macro_accuracy"] == 0.0
    perfect = classification.compute(predictions=np.eye(6), references=np.arange(6))
    assert perfect["top1_accuracy"] == perfect["macro_accuracy"] == 1.0
    with pytest.raises(ValueError, match="class ids in"):
        classification.compute(predictions=np.eye(2), references=[0, 2])


def _package_imports() -> dict[str, set[str]]:
    """Subpackage / top-level module of signclip_hf -> the ones it imports (every import, lazy ones too)."""
    import ast
    from pathlib import Path

    import signclip_hf

    root = Path(signclip_hf.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        unit = parts[0]
        package = ["signclip_hf", *parts[:-1]]  # what relative imports start from
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else [])).split(".")
                names = [target + [alias.name] for alias in node.names] if len(target) == 1 else [target]
            elif isinstance(node, ast.Import):
                names = [alias.name.split(".") for alias in node.names]
            else:
                continue
            for name in names:
                if name[0] != "signclip_hf" or len(name) < 2 or name[1] == unit:
                    continue
                if (root / name[1]).is_dir() or (root / f"{name[1]}.py").is_file():
                    graph.setdefault(unit, set()).add(name[1])
    return graph


def test_metric_wrappers_are_the_top_layer_and_the_math_the_bottom():
    """`metrics/` (evaluate wrappers, importing evaluation) is imported by nothing in the package; training and
    evaluation import the math from `metric_functions`, which imports no other signclip_hf module."""
    graph = _package_imports()
    assert graph["metrics"] >= {"evaluation", "metric_functions"}
    assert [unit for unit, targets in graph.items() if "metrics" in targets and unit != "metrics"] == []
    assert "metric_functions" not in graph
    assert "metric_functions" in graph["training"] and "metric_functions" in graph["evaluation"]
    assert "evaluation" not in graph["training"]

    def reaches(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for target in graph.get(todo.pop(), ()):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    cycles = {unit for unit in graph if unit in reaches(unit)} - {"cli", "commands"}  # the dispatcher and its commands
    assert cycles == set(), cycles
