"""Align images with captions, then search the test images by text and classify them zero-shot.

Zero-shot classes are names of your own, put into prompt templates.

    python examples/align_search.py --data /data/medpix2 --input-size 64 --epochs 12 \\
        --query "axial CT of the chest" --classes "head,chest,abdomen,spine,pelvis"
    python examples/align_search.py --data pairs.csv --text-model /models/BiomedBERT

Step 1 is ``python -m hybridnets.align`` (LiT: the text tower frozen, each caption encoded once;
with MedPix 2.0 it also pairs each image with its case report half of the time). Step 2
loads the aligned model (``aligned/``), embeds the test images once, ranks them against a text
query and classifies them with prompts built from ``--classes``. The run's ``image_tower/`` is a
backbone for ``python -m hybridnets.train --pretrained RUN/image_tower`` (``--lora-rank 8`` to
train adapters only). Data: a MedPix 2.0 folder or a CSV/JSONL table (image, text, split).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import torch

from hybridnets.align import AlignConfig, align
from hybridnets.align.evaluate import embed_images, embed_texts, load_for_scoring
from hybridnets.multimodal.zero_shot import zero_shot_predict, zero_shot_weights


def main(argv: Sequence[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="MedPix 2.0 folder or pairs table")
    p.add_argument("--model", default="convvit_n", help="image tower (any create() name)")
    p.add_argument("--text-model", default=None, help="HF folder or name (default: MiniLM)")
    p.add_argument("--input-size", type=int, default=64, help="image side length")
    p.add_argument("--in-chans", type=int, default=1, help="1: grey-scale, 3: RGB")
    p.add_argument("--epochs", type=int, default=12, help="alignment epochs")
    p.add_argument("--batch-size", type=int, default=64, help="pairs per contrastive batch")
    p.add_argument("--lr", type=float, default=5e-4, help="peak learning rate")
    p.add_argument(
        "--extra-text-prob",
        type=float,
        default=None,
        help="share of steps an image is paired with its case report (default: the recipe's)",
    )
    p.add_argument("--query", default="axial CT of the chest", help="text to search images by")
    p.add_argument("--classes", default="head,chest,abdomen", help="comma-separated names")
    p.add_argument("--top", type=int, default=5, help="images to list per query")
    p.add_argument("--out", default="runs/align_search", help="output folder")
    p.add_argument("--num-threads", type=int, default=None, help="CPU threads for torch")
    args = p.parse_args(argv)

    config = AlignConfig(
        model=args.model,
        data=args.data,
        text_model=args.text_model,
        input_size=args.input_size,
        in_chans=args.in_chans,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        extra_text_prob=args.extra_text_prob,
        out_dir=args.out,
        progress=False,
        num_threads=args.num_threads,
    )
    result = align(config)  # step 1: resumes if interrupted, skips nothing
    print(f"test retrieval: {json.dumps(result['test']['text_to_image'])}")

    model, test, prepare = load_for_scoring(Path(args.out) / "aligned", args.data)  # step 2
    images = embed_images(model, test, prepare, torch.device("cpu"))
    query = embed_texts(model, [args.query])[0]
    ranked = (images @ query).argsort(descending=True)[: args.top].tolist()
    print(f"query {args.query!r}:")
    for i in ranked:
        print(f"  {float(images[i] @ query):+.3f}  {test.texts[i][:90]}")
    classes = [c.strip() for c in args.classes.split(",")]
    templates = ["a medical image of the {}.", "a scan of the {}."]
    weights = zero_shot_weights(model.encode_text, classes, templates)
    predicted = zero_shot_predict(images, weights)
    counts = {c: int((predicted == k).sum()) for k, c in enumerate(classes)}
    print(f"zero-shot over {len(test)} test images: {counts}")
    return {"result": result, "ranked": ranked, "counts": counts}


if __name__ == "__main__":
    main()
