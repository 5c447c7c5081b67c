"""SignCLIP retrieval metrics (the paper's text<->pose retrieval evaluation) as an `evaluate` module, loadable offline by path.

Inputs: a score matrix with one row per pose clip and one column per text prompt, and for each pose
the column of its own text. Prompts are deduplicated by their text (`texts=`; identical prompts give
identical embeddings, and a prompt's score is the max over its copies), then:

- text -> pose: one query per distinct prompt that some pose has; relevant poses are all the poses
  with that prompt. P@k = relevant poses in the top k / k. MedianR / MeanR = rank of the first
  relevant pose.
- pose -> text: one query per pose over the distinct prompts; R@k = its prompt is in the top k.
  MedianR / MeanR = rank of its prompt.

Ties are resolved pessimistically: a relevant item tied with irrelevant ones is ranked after all of
them (so a model that scores everything equally gets the worst ranks, never the best). Ranks are
1-based. Against the released evaluation (fairseq MMPT `RWTHFS{T2V,V2T}Metric`): the same
definitions; it broke ties by column order (Python's stable sort) and, for pose -> text, dropped
duplicates only where they were adjacent after sorting, which equals our deduplication whenever
identical prompts have identical scores (always, for one text tower). Rows are ranked in chunks, so
memory beyond the input is bounded by `chunk_size` rows.
"""

from __future__ import annotations

import datasets
import evaluate

from signclip_hf.cards import CITATION as _CITATION  # one home for the paper's BibTeX
from signclip_hf.metric_functions import retrieval_metrics  # one home for the metric math

_KWARGS_DESCRIPTION = """
Args:
    predictions: (num_poses, num_texts) scores; row i scores pose i against every text column.
    references: (num_poses,) the text column that belongs to each pose.
    texts: optional list of num_texts prompt strings; columns with equal strings are one prompt.
        Default: every column is a distinct prompt.
    ks: cut-offs for P@k / R@k (default (1, 5, 10)).
    chunk_size: query rows ranked at a time (bounds memory).
Returns:
    t2v_P@k, t2v_MedianR, t2v_MeanR, v2t_R@k, v2t_MedianR, v2t_MeanR, num_text_queries, num_pose_queries.
Examples:
    >>> metric = evaluate.load("signclip_hf/metrics/retrieval")
    >>> metric.compute(predictions=[[2.0, 1.0], [0.0, 3.0]], references=[0, 1], ks=(1,))["v2t_R@1"]
    1.0
"""


@evaluate.utils.file_utils.add_start_docstrings(__doc__, _KWARGS_DESCRIPTION)
class Retrieval(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=__doc__,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("float32")), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, texts=None, ks=(1, 5, 10), chunk_size=1024):
        return retrieval_metrics(predictions, references, texts, ks, chunk_size)  # validated there
