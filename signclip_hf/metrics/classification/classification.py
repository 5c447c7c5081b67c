"""ISLR classification metrics as an `evaluate` module, loadable offline by path: top-1 / top-5
accuracy and macro accuracy (mean per-class recall over the classes present in the references).

Predictions are per-example class scores (logits). Ties are resolved pessimistically: the true class
is within the top k only if fewer than k other classes score at least as high (a model that scores all
classes equally is never right). With fewer than 5 classes, top-5 is computed with k = number of classes.
"""

from __future__ import annotations

import datasets
import evaluate

from signclip_hf.metric_functions import classification_metrics  # one home for the metric math

_KWARGS_DESCRIPTION = """
Args:
    predictions: (num_examples, num_classes) class scores.
    references: (num_examples,) true class ids.
    ks: top-k cut-offs (default (1, 5)).
Returns:
    top1_accuracy, top5_accuracy (one `top{k}_accuracy` per k), macro_accuracy, num_examples.
Examples:
    >>> metric = evaluate.load("signclip_hf/metrics/classification")
    >>> metric.compute(predictions=[[0.1, 0.9], [0.8, 0.2]], references=[1, 1])["top1_accuracy"]
    0.5
"""


@evaluate.utils.file_utils.add_start_docstrings(__doc__, _KWARGS_DESCRIPTION)
class Classification(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=__doc__,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("float32")), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, ks=(1, 5)):
        return classification_metrics(predictions, references, ks)  # validated there
