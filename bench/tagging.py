"""Does `finetune` learn where a plain AdamW loop learns? Tagging, classification and extractive QA from one tiny
random-init model, ours vs a 40-line loop, same model, data, batch, lr and number of steps (bench/tagging.md).

    python bench/tagging.py --out /tmp/tagbench                       # every task, ours (old and new defaults) and plain
    python bench/tagging.py --out /tmp/tagbench --tasks tagging --runs plain,defaults
    python bench/tagging.py --out /tmp/tagbench --table               # the markdown table of what is done

Data (bench/_ner.py, written offline): a People's Daily-like character-level NER corpus, 3,000 training and 300
validation sentences in People's Daily's layout, and two tasks read from the same sentences:
- classification: the type of a sentence's first entity, or "none" (4 classes);
- question answering: "which person / place / organisation?" (人名 / 地名 / 机构), answered by the first entity of
  the asked type, in the SQuAD layout (CMRC 2018's character-level F1).
Model: ELECTRA, 2 layers, hidden 128, random weights, a character vocabulary (bench/_ner.py write_tiny_model).
Every run: lr 1e-3, batch 32, 4 epochs (QA 2), seed 1; the plain loop is torch's AdamW (bias correction, weight
decay 0.01), constant lr, no clipping, HF's heads; `finetune` runs its defaults with that lr and those epochs.
Runs (--runs, comma-separated, `NAME+SEED` for another seed than 1: `defaults+2`): plain; defaults (finetune as it ships:
google-research/electra's settings); bias-correction (torch's AdamW), no-layer-decay, corrected-no-decay (both), and hf-style
(those two, no warmup, HF's linear schedule and heads).
Figures: validation entity F1 (seqeval's reading), accuracy, and F1 (CMRC 2018's); CPU seconds per run.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _ner import as_jsonl, read_corpus, write_corpus, write_tiny_model  # noqa: E402

LR, BATCH, SEED = 1e-3, 32, 1
EPOCHS = {"tagging": 4.0, "classification": 4.0, "qa": 2.0}
QUESTIONS = {"PER": "人名", "LOC": "地名", "ORG": "机构"}
# finetune's settings per run name: its defaults (google-research/electra's fine-tuning), and one change at a time
RUNS = {
    "defaults": {},
    "bias-correction": {"adam_bias_correction": True},
    "no-layer-decay": {"layer_decay": 1.0},
    "corrected-no-decay": {"adam_bias_correction": True, "layer_decay": 1.0},
    "hf-style": {"adam_bias_correction": True, "layer_decay": 1.0, "warmup_ratio": 0.0, "schedule": "warmup-then-decay",
                 "layer_decay_style": "contiguous", "head": "hf"},
}


# ---- data ------------------------------------------------------------------------------------------------------


def first_entity(tags: list[str]) -> tuple[str, int, int] | None:
    from electra_cli.finetuning.entities import entity_spans

    spans = entity_spans(tags)
    return spans[0] if spans else None


def write_tasks(root: Path) -> dict:
    """Files of the three tasks (train, validation) under root/data; returns their paths."""
    corpus = write_corpus(root / "data" / "peoples_daily")
    files = {"tagging": tuple(as_jsonl(corpus / f"example.{s}", root / "data" / f"tags-{s}.jsonl") for s in ("train", "dev"))}
    classification, qa = [], []
    for split in ("train", "dev"):
        sentences = read_corpus(corpus / f"example.{split}")
        path = root / "data" / f"classes-{split}.jsonl"
        with open(path, "w", encoding="utf-8") as f:
            for chars, tags in sentences:
                entity = first_entity(tags)
                f.write(json.dumps({"text": "".join(chars), "label": entity[0] if entity else "none"},
                                   ensure_ascii=False) + "\n")
        classification.append(path)
        paragraphs = []
        for i, (chars, tags) in enumerate(sentences):
            entity = first_entity(tags)
            if entity is None:
                continue
            kind, start, end = entity
            text = "".join(chars)
            paragraphs.append({"context": text, "qas": [{"id": f"{split}-{i}", "question": QUESTIONS[kind], "answers": [
                {"text": text[start : end + 1], "answer_start": start}]}]})
        path = root / "data" / f"qa-{split}.json"
        path.write_text(json.dumps({"version": "bench", "data": [{"title": "pd", "paragraphs": paragraphs}]},
                                   ensure_ascii=False), encoding="utf-8")
        qa.append(path)
    return files | {"classification": tuple(classification), "qa": tuple(qa)}


# ---- the plain loop --------------------------------------------------------------------------------------------


def plain_loop(model, batches, epochs: float, seed: int) -> None:
    """torch's AdamW at a constant lr, batch after batch, `epochs` times over shuffled data; nothing else."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
    steps = math.ceil(len(batches.rows) / BATCH) * epochs
    rng, step = random.Random(seed), 0
    model.train()
    while step < steps:
        order = list(range(len(batches.rows)))
        rng.shuffle(order)
        for start in range(0, len(order), BATCH):
            if step >= steps:
                break
            loss = model(**batches.encode([batches.rows[i] for i in order[start : start + BATCH]])).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            step += 1
    model.eval()


class TagBatches:
    def __init__(self, tokenizer, path, label2id):
        self.tokenizer, self.label2id = tokenizer, label2id
        self.rows = [json.loads(line) for line in open(path, encoding="utf-8")]

    def encode(self, rows, labels=True):
        enc = self.tokenizer([r["tokens"] for r in rows], is_split_into_words=True, truncation=True, max_length=128,
                             padding=True, return_tensors="pt")
        if labels:
            enc["labels"] = torch.full(enc["input_ids"].shape, -100)
            for row, r in enumerate(rows):
                previous = None
                for position, word in enumerate(enc.word_ids(row)):
                    if word is not None and word != previous:  # the first piece of each word
                        enc["labels"][row, position] = self.label2id[r["tags"][word]]
                    previous = word
        return enc


class ClassBatches:
    def __init__(self, tokenizer, path, label2id):
        self.tokenizer, self.label2id = tokenizer, label2id
        self.rows = [json.loads(line) for line in open(path, encoding="utf-8")]

    def encode(self, rows, labels=True):
        enc = self.tokenizer([r["text"] for r in rows], truncation=True, max_length=128, padding=True, return_tensors="pt")
        if labels:
            enc["labels"] = torch.tensor([self.label2id[r["label"]] for r in rows])
        return enc


class QABatches:
    def __init__(self, tokenizer, path):
        self.tokenizer = tokenizer
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        self.rows = [(p["context"], qa) for p in data["data"][0]["paragraphs"] for qa in p["qas"]]

    def encode(self, rows, labels=True):
        enc = self.tokenizer([qa["question"] for _, qa in rows], [c for c, _ in rows], truncation="only_second",
                             max_length=128, padding=True, return_offsets_mapping=True, return_tensors="pt")
        offsets = enc.pop("offset_mapping")
        if labels:
            starts, ends = [], []
            for row, (_, qa) in enumerate(rows):
                answer = qa["answers"][0]
                first, last = answer["answer_start"], answer["answer_start"] + len(answer["text"])
                sequence = enc.sequence_ids(row)
                inside = [p for p in range(len(sequence)) if sequence[p] == 1]
                starts.append(next(p for p in inside if offsets[row, p, 0] >= first))
                ends.append(max(p for p in inside if offsets[row, p, 1] <= last))
            enc["start_positions"], enc["end_positions"] = torch.tensor(starts), torch.tensor(ends)
        enc["offsets"] = offsets
        return enc


@torch.no_grad()
def plain_scores(task: str, model, batches, id2label=None) -> dict:
    from electra_cli.finetuning.entities import entity_scores
    from electra_cli.qa.metrics import evaluate

    rows = batches.rows
    if task == "tagging":
        gold, found = [], []
        for start in range(0, len(rows), 64):
            chunk = rows[start : start + 64]
            enc = batches.encode(chunk, labels=False)
            predicted = model(**enc).logits.argmax(-1)
            for row, r in enumerate(chunk):
                tags, previous = ["O"] * len(r["tokens"]), None
                for position, word in enumerate(enc.word_ids(row)):
                    if word is not None and word != previous:
                        tags[word] = id2label[int(predicted[row, position])]
                    previous = word
                gold.append(r["tags"])
                found.append(tags)
        scores = entity_scores(gold, found)
        flat = [(g, p) for gs, ps in zip(gold, found) for g, p in zip(gs, ps)]
        return {"entity_f1": scores["entity_f1"], "accuracy": sum(g == p for g, p in flat) / len(flat)}
    if task == "classification":
        right = 0
        for start in range(0, len(rows), 64):
            chunk = rows[start : start + 64]
            predicted = model(**batches.encode(chunk, labels=False)).logits.argmax(-1)
            right += sum(id2label[int(p)] == r["label"] for p, r in zip(predicted, chunk))
        return {"accuracy": right / len(rows)}
    answers, golds = {}, {}
    for start in range(0, len(rows), 64):
        chunk = rows[start : start + 64]
        enc = batches.encode(chunk, labels=False)
        offsets = enc.pop("offsets")
        out = model(**enc)
        for row, (context, qa) in enumerate(chunk):
            sequence = enc.sequence_ids(row)
            inside = [p for p in range(len(sequence)) if sequence[p] == 1]
            best = max(((s, e) for s in inside for e in inside if s <= e < s + 30),
                       key=lambda se: float(out.start_logits[row, se[0]] + out.end_logits[row, se[1]]))
            answers[qa["id"]] = context[int(offsets[row, best[0], 0]) : int(offsets[row, best[1], 1])]
            golds[qa["id"]] = [a["text"] for a in qa["answers"]]
    result = evaluate(golds, answers, language="zh")
    return {"f1": result["f1"] / 100, "em": result["exact_match"] / 100}


def run_plain(task: str, model_dir: Path, files, seed: int = SEED) -> dict:
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    train, dev = files
    torch.manual_seed(seed)  # the new head's weights
    if task == "qa":
        model = transformers.ElectraForQuestionAnswering.from_pretrained(model_dir)
        plain_loop(model, QABatches(tokenizer, train), EPOCHS[task], seed)
        return plain_scores(task, model, QABatches(tokenizer, dev))
    kind = TagBatches if task == "tagging" else ClassBatches
    rows = [json.loads(line) for line in open(train, encoding="utf-8")]
    labels = sorted({t for r in rows for t in r["tags"]} if task == "tagging" else {r["label"] for r in rows})
    label2id = {name: i for i, name in enumerate(labels)}
    head = transformers.ElectraForTokenClassification if task == "tagging" else transformers.ElectraForSequenceClassification
    model = head.from_pretrained(model_dir, num_labels=len(labels))
    plain_loop(model, kind(tokenizer, train, label2id), EPOCHS[task], seed)
    return plain_scores(task, model, kind(tokenizer, dev, label2id), {i: n for n, i in label2id.items()})


# ---- ours ------------------------------------------------------------------------------------------------------


def run_ours(task: str, model_dir: Path, files, settings: dict, out: Path, seed: int = SEED) -> dict:
    from electra_cli.finetuning.config import FinetuneConfig
    from electra_cli.tasks.dispatch import finetune

    task_type = {"tagging": "token-classification", "classification": "classification", "qa": "question-answering"}[task]
    cfg = FinetuneConfig(task_type=task_type, lr=LR, epochs=EPOCHS[task], batch_size=BATCH, seeds=[seed],
                         max_seq_len=128, **settings)
    if task == "qa":
        cfg.language, cfg.null_answers = "zh", False
    summary = finetune(cfg, model_dir, files[0], files[1], out, overwrite=True)
    scores = summary["seeds"][0]
    if task == "qa":
        return {"f1": scores["f1"] / 100, "em": scores["exact_match"] / 100}
    return {k: scores[k] for k in ("entity_f1", "accuracy") if k in scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tasks", default="tagging,classification,qa")
    parser.add_argument("--runs", default="plain,defaults")
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    if not args.table:
        torch.set_num_threads(1)
        model_dir = args.out / "model"
        if not (model_dir / "config.json").is_file():
            write_tiny_model(model_dir)
        files = write_tasks(args.out)
        for task in args.tasks.split(","):
            for run in args.runs.split(","):
                key = f"{task}/{run}"
                if key in results:
                    continue
                started = time.process_time()
                name, _, seed = run.partition("+")
                seed = int(seed or SEED)
                if name == "plain":
                    scores = run_plain(task, model_dir, files[task], seed)
                else:
                    scores = run_ours(task, model_dir, files[task], RUNS[name], args.out / "runs" / task / run, seed)
                results[key] = scores | {"cpu_seconds": round(time.process_time() - started, 1)}
                print(key, json.dumps(results[key]), flush=True)
                args.out.mkdir(parents=True, exist_ok=True)
                results_path.write_text(json.dumps(results, indent=2) + "\n")
    print("| task | run | figure | value | accuracy | CPU s |\n| --- | --- | --- | --- | --- | --- |")
    for key, scores in results.items():
        task, run = key.split("/")
        figure = {"tagging": "entity_f1", "classification": "accuracy", "qa": "f1"}[task]
        second = scores.get("accuracy", scores.get("em"))
        print(f"| {task} | {run} | {figure} | {scores[figure]:.3f} | {second:.3f} | {scores['cpu_seconds']:.0f} |")


if __name__ == "__main__":
    main()
