"""Linear probes: how much of a labelled task the frozen features of a model already hold.

    python bench/probe.py --data /tmp/plateau/data MODEL_DIR [MODEL_DIR ...]

For each demo task (files TASK-train.jsonl / TASK-validation.jsonl in --data, as `bench/plateau.py` writes them)
and each model folder (any HF ELECTRA export: discriminator, generator, random init), fit a logistic regression
on standardised features of the training split and report validation accuracy for three feature sets: the
[CLS] vector (what the fine-tuning head reads), the mean of the last layer, the mean of the input embeddings.
"CLS cosine" is the mean cosine similarity of [CLS] vectors across validation texts: 1.0 means every input
gets the same vector. bench/plateau.md has our figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def load(folder: Path, task: str, split: str) -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for line in (folder / f"{task}-{split}.jsonl").read_text().splitlines()]
    return [r["text"] for r in rows], [r["label"] for r in rows]


def features(model_dir: str, texts: list[str]) -> dict:
    """{"cls", "mean", "embeddings-mean"}: (N, H) arrays of frozen features."""
    import torch
    from transformers import AutoTokenizer, ElectraModel

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = ElectraModel.from_pretrained(model_dir).eval()
    parts: dict[str, list] = {"cls": [], "mean": [], "embeddings-mean": []}
    with torch.no_grad():
        for i in range(0, len(texts), 64):
            batch = tokenizer(texts[i:i + 64], padding=True, truncation=True, max_length=128, return_tensors="pt")
            out = model(**batch, output_hidden_states=True)
            mask = batch["attention_mask"][..., None].float()
            parts["cls"].append(out.last_hidden_state[:, 0])
            parts["mean"].append((out.last_hidden_state * mask).sum(1) / mask.sum(1))
            parts["embeddings-mean"].append((out.hidden_states[0] * mask).sum(1) / mask.sum(1))
    return {name: torch.cat(chunks).numpy() for name, chunks in parts.items()}


def main() -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from electra_cli.core.console import setup_logging

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--data", type=Path, default=Path("/tmp/plateau/data"))
    parser.add_argument("--tasks", nargs="*", default=["stdlib-package", "returns-value"])
    args = parser.parse_args()
    setup_logging()
    print("| task | model | [CLS] | mean of last layer | mean of embeddings | CLS cosine |")
    print("| --- | --- | --- | --- | --- | --- |")
    for task in args.tasks:
        train_texts, train_labels = load(args.data, task, "train")
        val_texts, val_labels = load(args.data, task, "validation")
        for model_dir in args.models:
            train, val = features(model_dir, train_texts), features(model_dir, val_texts)
            scores = {}
            for name in train:
                mu, sd = train[name].mean(0), train[name].std(0) + 1e-6
                probe = LogisticRegression(max_iter=2000).fit((train[name] - mu) / sd, train_labels)
                scores[name] = probe.score((val[name] - mu) / sd, val_labels)
            cls = val["cls"] / np.linalg.norm(val["cls"], axis=1, keepdims=True).clip(1e-9)
            cosine = float((cls @ cls.T).mean())
            print(f"| {task} | {model_dir} | {scores['cls']:.3f} | {scores['mean']:.3f} | "
                  f"{scores['embeddings-mean']:.3f} | {cosine:.3f} |", flush=True)


if __name__ == "__main__":
    main()
