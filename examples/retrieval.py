"""Text <-> sign retrieval on the bundled sample: the paper's metrics (SignCLIP, Jiang et al. 2024: text->pose
P@k, pose->text R@k), then a text query over a cached gallery.

    python examples/retrieval.py --model MODEL_DIR [--query "hello"]

Without --model an untrained SignCLIP (offline MiniLM text tower) is built (metrics near chance).
"""

import argparse

from signclip_hf.modeling import format_prompt

from signclip_hf.data import build_dataset
from signclip_hf.evaluation import (
    embed_dataset,
    embed_texts,
    embeddings_of,
    retrieval,
    search,
)
from signclip_hf.model_factory import load_or_build
from signclip_hf.sample_data import GESTURES_DIR

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--model", default=None, help="SignCLIP model directory (default: an untrained model)")
parser.add_argument("--query", default="hello")
args = parser.parse_args()

model, processor = load_or_build(args.model)

dataset, _ = build_dataset(GESTURES_DIR)
gallery = embed_dataset(model, processor, dataset)  # embedded once; a saved dataset caches this on disk

result = retrieval(model, processor, gallery)
for name, value in result.metrics.items():
    print(f"{name:>18}  {value:.4f}" if isinstance(value, float) else f"{name:>18}  {value}")

prompt = format_prompt(args.query)
hits = search(embed_texts(model, processor, [prompt]), embeddings_of(gallery), k=5)
print(f"top 5 clips for {prompt!r}:")
for score, index in zip(hits.scores[0], hits.indices[0]):
    print(f"  {score:9.3f}  {gallery[int(index)]['file']}  ({gallery[int(index)]['label']})")
