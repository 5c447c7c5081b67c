"""A client of the SignCLIP embedding service, written as the original's README, Colab and `client_example.py`
call it (fairseq examples/MMPT): `requests`, GET with a JSON body, base64 `.pose` files, `"embeddings"` back.

Start a server first, e.g. `signclip-hf serve MODEL --port 3030`, then:

    python examples/serve_client.py --url http://127.0.0.1:3030 [--pose clip.pose ...] [--text "<en> <ase> house" ...]

With the original public URL (or any server speaking its API) only `--url` changes. Prints the embeddings'
shapes and, for poses and texts together, the dot-product scores of every pose against every text (as the
original `score_pose_and_text_batch`; `/api/score` answers the model's own scores, scaled for cosine models).
"""

from __future__ import annotations

import argparse
import base64
import json
import os

import numpy as np
import requests

HEADERS = {"Content-Type": "application/json"}


def embed(url: str, modality: str, items: list[str], model_name: str | None = None, api_key: str | None = None):
    """`GET {url}/api/embed/{modality}` with `{modality: items}` -> (len(items), E) embeddings."""
    payload = {modality: items}
    if model_name:
        payload["model_name"] = model_name
    headers = dict(HEADERS, **({"X-API-Key": api_key} if api_key else {}))
    response = requests.request(
        "GET", f"{url}/api/embed/{modality}", headers=headers, data=json.dumps(payload), timeout=300
    )
    if response.status_code != 200:
        raise SystemExit(f"{modality}: HTTP {response.status_code}: {response.text[:500]}")
    return np.asarray(response.json()["embeddings"])


def encode_pose(path: str) -> str:
    """A `.pose` file as the original expects it: base64 of the file's bytes, as ASCII text."""
    with open(path, "rb") as handle:
        return base64.b64encode(handle.read()).decode("ascii")


def main() -> None:
    from signclip_hf.sample_data import HOUSE_POSE  # the bundled real clip (pip install signclip-hf)

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the server (no trailing /api/...)")
    parser.add_argument("--pose", action="append", default=None, help=".pose file; repeatable (default: house.pose)")
    parser.add_argument("--text", action="append", default=None, help="text; repeatable")
    parser.add_argument("--model-name", default=None, help="one of the server's models (default: its first)")
    parser.add_argument("--api-key", default=os.environ.get("SIGNCLIP_API_KEY"), help="if the server needs one")
    args = parser.parse_args()
    poses = args.pose or [str(HOUSE_POSE)]
    texts = args.text or ["<en> <ase> house", "<en> <gsg> house", "<en> <ase> sun", "random text"]
    pose_embeddings = embed(args.url, "pose", [encode_pose(path) for path in poses], args.model_name, args.api_key)
    text_embeddings = embed(args.url, "text", texts, args.model_name, args.api_key)
    print("pose embeddings:", pose_embeddings.shape, "text embeddings:", text_embeddings.shape)
    scores = pose_embeddings @ text_embeddings.T
    for path, row in zip(poses, scores):
        print(os.path.basename(path), {text: round(float(score), 2) for text, score in zip(texts, row)})


if __name__ == "__main__":
    main()
