"""Token vs whole-word masking on Chinese text (issue 19's study): electra-tiny, equal steps, 3 seeds each.

    apt-get download manpages-zh=1.6.4.0-1 && dpkg-deb -x manpages-zh_1.6.4.0-1_all.deb /tmp/manpages-zh
    flock /tmp/electra-bench.lock python bench/wwm.py --manpages /tmp/manpages-zh --out /tmp/wwm-bench
    python bench/wwm.py --manpages /tmp/manpages-zh --out /tmp/wwm-bench --table     # the tables so far
    python bench/wwm.py --manpages /tmp/manpages-zh --out /tmp/wwm-bench --reevaluate   # redo the held-out evaluation

Data (bench/_zh.py): the simplified-Chinese man pages of Debian's manpages-zh, sections 1, 3, 5, 7, 8. A fifth of
the pages (chosen by a hash of the page name) are held out: the pretraining corpus is the other pages; the
labelled task asks which section a paragraph (at least 20 Chinese characters) comes from, trained on paragraphs of
the pretraining pages and validated on paragraphs of the held-out pages. One 8,000-token vocabulary, one set of
shards segmented with `--segment rjieba` (token masking ignores the column).

Per masking mode and seed: `electra-tiny` pretraining for --steps steps (the same steps for both: the per-step
cost of each masking is measured in the same process, in alternating rounds, so that equal steps can be read as
equal wall-clock); then, on the held-out pages, generator accuracy and discriminator health (loss / entropy of
the replaced share, AUC) under BOTH maskings, with the same validation masking seeds for every model; then
fine-tuning through the CLI with explicit settings (FINETUNE), one fine-tuning seed per pretraining seed. A
random-init row fine-tunes the same architecture from scratch with the same seeds. Every finished piece is
appended to OUT/results.jsonl and skipped on a rerun.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _zh import cjk_count, man_pages  # noqa: E402

MASKINGS = ("token", "whole-word")
HELDOUT_SHARE = 0.2
MIN_CJK = 20  # characters of Chinese in a task paragraph
MAX_CHARS = 300  # a task paragraph is cut here
TASK_TRAIN, TASK_VAL = 2000, 1000  # at most this many paragraphs (hash-chosen)
FINETUNE = ["--lr", "1e-3", "--epochs", "3", "--batch-size", "16", "--max-seq-len", "128"]
PRETRAIN = ["train.log_every=50", "train.eval_every=0", "train.eval_batches=8", "train.save_every=1000000"]
EVAL_BATCHES = 16  # held-out batches of 32 x 128 for the cross evaluation


def stable(text: str) -> float:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") / 2**64


def build_data(manpages: Path, folder: Path) -> dict:
    """corpus.txt (pretraining pages), heldout.txt, task/train.jsonl, task/validation.jsonl; returns counts."""
    meta = folder / "data.json"
    if meta.is_file():
        return json.loads(meta.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "task").mkdir(exist_ok=True)
    pages = man_pages(manpages)
    parts = {"corpus": [], "heldout": []}
    task = {"train": [], "validation": []}
    for page in pages:
        held = stable(page["name"]) < HELDOUT_SHARE
        parts["heldout" if held else "corpus"].append("\n".join(page["paragraphs"]))
        for paragraph in page["paragraphs"]:
            if cjk_count(paragraph) >= MIN_CJK:
                task["validation" if held else "train"].append({"text": paragraph[:MAX_CHARS],
                                                                "label": f"man{page['section']}"})
    for name, docs in parts.items():
        (folder / f"{name}.txt").write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    counts = {"pages": len(pages), "corpus_bytes": (folder / "corpus.txt").stat().st_size,
              "heldout_bytes": (folder / "heldout.txt").stat().st_size}
    for split, limit in (("train", TASK_TRAIN), ("validation", TASK_VAL)):
        rows = sorted(task[split], key=lambda r: stable(r["text"]))[:limit]
        with open(folder / "task" / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        counts[f"task_{split}"] = len(rows)
        labels = [r["label"] for r in rows]
        counts[f"task_{split}_labels"] = {k: labels.count(k) for k in sorted(set(labels))}
    meta.write_text(json.dumps(counts, indent=2))
    return counts


def cli(*args: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "electra_cli", *map(str, args)], capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"electra-cli {' '.join(map(str, args[:3]))} failed:\n{out.stderr[-3000:]}")


def segmentation_stats(shards: Path) -> dict:
    """How much of the text whole-word masking groups: words per token, share of tokens in multi-token words."""
    import numpy as np

    from electra_cli.shards.read import ShardSet

    rows = ShardSet(shards, "train", words=True)
    tokens = starts = in_multi = 0
    for i in range(min(len(rows), 3000)):
        flags = rows.row_flags(i)[1:-1].astype(bool)  # without [CLS] and the last [SEP]
        starts_row = ~flags
        tokens += len(flags)
        starts += int(starts_row.sum())
        word = np.cumsum(starts_row)
        sizes = np.bincount(word)
        in_multi += int((sizes[word] > 1).sum())
    return {"tokens_per_word": tokens / max(starts, 1), "share_in_multi_token_words": in_multi / max(tokens, 1)}


def measure_step_costs(shards: Path, vocab_dir: Path, rounds: int = 5, steps: int = 10) -> dict:
    """Seconds per training step (forward, backward, AdamW) and per masking call, token vs whole-word, measured
    in alternating rounds in this process; the fastest round counts (the machine is shared)."""
    import numpy as np
    import torch

    from electra_cli.pretraining.model import (
        Electra,
        mask_positions,
        masked_slots,
        whole_word_positions,
    )
    from electra_cli.pretraining.recipe import load_pretrain_config
    from electra_cli.shards.read import ShardSet
    from electra_cli.vocab.load import load_vocab_manifest

    vocab = load_vocab_manifest(vocab_dir)
    data = ShardSet(shards, "train", words=True)
    batch = data.batch(np.arange(32), 128)
    models = {}
    for masking in MASKINGS:
        cfg = load_pretrain_config("electra-tiny", [f"model.masking={masking}"])
        torch.manual_seed(0)
        model = Electra(cfg.model, vocab["vocab_size"], vocab["special_ids"]).train()
        models[masking] = (model, torch.optim.AdamW(model.parameters(), lr=1e-4))
    best = {m: float("inf") for m in MASKINGS}
    mask_best = {m: float("inf") for m in MASKINGS}
    slots = masked_slots(128)
    for _ in range(rounds):
        for masking in MASKINGS:
            model, optimizer = models[masking]
            inputs = batch if masking == "whole-word" else {k: v for k, v in batch.items() if k != "word_continues"}
            start = time.perf_counter()
            for _ in range(steps):
                model(**inputs)["loss"].backward()
                optimizer.step()
                optimizer.zero_grad()
            best[masking] = min(best[masking], (time.perf_counter() - start) / steps)
            start = time.perf_counter()
            for _ in range(50):
                if masking == "token":
                    mask_positions(batch["input_ids"], slots, specials=vocab["special_ids"])
                else:
                    whole_word_positions(batch["input_ids"], batch["word_continues"], slots,
                                         specials=vocab["special_ids"])
            mask_best[masking] = min(mask_best[masking], (time.perf_counter() - start) / 50)
    return {"step_s": best, "mask_s": mask_best, "step_ratio": best["whole-word"] / best["token"]}


def cross_evaluate(run: Path, heldout: Path, vocab_dir: Path) -> dict:
    """Generator accuracy and discriminator health of a run's final checkpoint on the held-out pages, under each
    masking, with the same masking seed for every model."""
    import torch
    from safetensors.torch import load_model

    from electra_cli.core import config as configlib
    from electra_cli.pretraining.checkpoint import complete_checkpoints
    from electra_cli.pretraining.model import Electra, roc_auc
    from electra_cli.pretraining.recipe import PretrainConfig
    from electra_cli.shards.read import ShardSet, eval_batches
    from electra_cli.vocab.load import load_vocab_manifest

    vocab = load_vocab_manifest(vocab_dir)
    checkpoint = complete_checkpoints(run / "checkpoints")[-1]
    cfg = configlib.load_config(PretrainConfig, run / "config.toml", [])
    data = ShardSet(heldout, "train", words=True)
    results = {}
    for masking in MASKINGS:
        cfg.model.masking = masking
        model = Electra(cfg.model, vocab["vocab_size"], vocab["special_ids"])
        load_model(model, str(checkpoint / "model.safetensors"), strict=False)
        model.eval()
        sums = {"gen_loss": 0.0, "gen_acc": 0.0, "disc_loss": 0.0, "disc_entropy": 0.0, "replaced_frac": 0.0}
        logits, labels = [], []
        n = 0
        with torch.no_grad(), torch.random.fork_rng():
            torch.manual_seed(20200)
            for batch in eval_batches(data, 32, EVAL_BATCHES, 0, 1, 128):
                if masking == "token":
                    batch.pop("word_continues")
                metrics = model(**batch)["metrics"]
                for key in sums:
                    sums[key] += float(metrics[key])
                keep = metrics["token_weights"] > 0
                logits.append(metrics["disc_logits"][keep])
                labels.append(metrics["disc_labels"][keep])
                n += 1
        record = {k: v / n for k, v in sums.items()}
        record["disc_ratio"] = record["disc_loss"] / record["disc_entropy"]
        record["disc_auc"] = roc_auc(torch.cat(logits), torch.cat(labels))
        results[masking] = record
    return results


def finetune_scores(model: Path, task: Path, out: Path, seeds: str) -> list[float]:
    cli("finetune", "--model", model, "--train", task / "train.jsonl", "--validation", task / "validation.jsonl",
        "--out", out, "--seeds", seeds, *FINETUNE, "--overwrite")
    metrics = json.loads((out / "metrics.json").read_text())
    return [s["accuracy"] for s in metrics["seeds"]]


def append(results: Path, record: dict) -> None:
    with open(results, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record), flush=True)


def read(results: Path) -> list[dict]:
    return [json.loads(line) for line in results.read_text().splitlines()] if results.is_file() else []


def table(results: Path) -> str:
    records = read(results)
    runs = [r for r in records if r.get("kind") == "run"]
    lines = ["| pretrained with | seeds | gen loss / acc, token-masked held-out | gen loss / acc, whole-word-masked "
             "held-out | disc ratio / AUC, token-masked | disc ratio / AUC, whole-word-masked | fine-tuned accuracy "
             "(each seed) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    med = statistics.median
    for masking in MASKINGS:
        mine = [r for r in runs if r["masking"] == masking]
        if not mine:
            continue
        ev = [r["eval"] for r in mine]
        scores = [r["finetune"][0] for r in mine]
        cells = []
        for mode in MASKINGS:
            cells.append(f"{med(e[mode].get('gen_loss', float('nan')) for e in ev):.3f} / "
                         f"{med(e[mode]['gen_acc'] for e in ev):.3f}")
        for mode in MASKINGS:
            cells.append(f"{med(e[mode]['disc_ratio'] for e in ev):.3f} / {med(e[mode]['disc_auc'] for e in ev):.3f}")
        lines.append(f"| {masking} | {len(mine)} | {' | '.join(cells)} | {med(scores):.3f} "
                     f"({', '.join(f'{s:.3f}' for s in scores)}) |")
    for r in records:
        if r.get("kind") == "random":
            lines.append(f"| random init (no pretraining) | {len(r['finetune'])} | | | | | "
                         f"{med(r['finetune']):.3f} ({', '.join(f'{s:.3f}' for s in r['finetune'])}) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manpages", type=Path, required=True, help="root of the extracted manpages-zh package")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--table", action="store_true")
    parser.add_argument("--reevaluate", action="store_true", help="redo the held-out evaluation of finished runs")
    args = parser.parse_args()
    out, results = args.out, args.out / "results.jsonl"
    if args.table:
        print(table(results))
        return
    if args.reevaluate:
        records = read(results)
        for r in records:
            if r.get("kind") == "run":
                r["eval"] = cross_evaluate(out / "runs" / f"{r['masking']}-{r['seed']}", out / "heldout", out / "vocab")
        (out / "results.tmp").write_text("".join(json.dumps(r) + "\n" for r in records))
        os.replace(out / "results.tmp", results)
        print(table(results))
        return
    from electra_cli.core.console import setup_logging
    from electra_cli.pretraining.recipe import load_pretrain_config
    from electra_cli.pretraining.train import pretrain

    setup_logging()
    started = time.time()
    counts = build_data(args.manpages, out / "data")
    vocab, shards, heldout = out / "vocab", out / "shards", out / "heldout"
    if not (vocab / "vocab.json").is_file():
        cli("vocab", out / "data" / "corpus.txt", "--out", vocab, "--vocab-size", "8000")
    for folder, text, fraction in ((shards, "corpus.txt", "0.02"), (heldout, "heldout.txt", "0")):
        if not (folder / "manifest.json").is_file():
            cli("shard", out / "data" / text, "--vocab", vocab, "--out", folder, "--max-seq-len", "128",
                "--segment", "rjieba", "--validation-fraction", fraction, "--workers", "1")
    done = read(results)
    if not any(r.get("kind") == "data" for r in done):
        manifest = json.loads((shards / "manifest.json").read_text())
        append(results, {"kind": "data", **counts, "train_rows": manifest["splits"]["train"]["rows"],
                         "words": manifest["words"], **segmentation_stats(shards)})
    if not any(r.get("kind") == "cost" for r in done):
        append(results, {"kind": "cost", **measure_step_costs(shards, vocab)})
    for seed in args.seeds.split(","):
        for masking in MASKINGS:
            if any(r.get("kind") == "run" and r["masking"] == masking and r["seed"] == int(seed) for r in done):
                continue
            run = out / "runs" / f"{masking}-{seed}"
            cfg = load_pretrain_config("electra-tiny", PRETRAIN + [f"model.masking={masking}",
                                                                   f"train.steps={args.steps}", f"train.seed={seed}"])
            t0 = time.time()
            result = pretrain(cfg, shards, run, overwrite=True)
            seconds = time.time() - t0
            record = {"kind": "run", "masking": masking, "seed": int(seed), "steps": args.steps,
                      "seconds": round(seconds, 1), "validation": result["validation"],
                      "eval": cross_evaluate(run, heldout, vocab),
                      "finetune": finetune_scores(run / "final" / "discriminator", out / "data" / "task",
                                                  run / "finetuned", seed)}
            append(results, record)
    if not any(r.get("kind") == "random" for r in done):
        from electra_cli.demo import save_random_init
        from electra_cli.pretraining.model import hf_configs
        from electra_cli.vocab.load import load_vocab_manifest

        disc_config, _ = hf_configs(load_pretrain_config("electra-tiny", []).model,
                                    load_vocab_manifest(vocab)["vocab_size"])
        save_random_init(disc_config, vocab, out / "random-model")
        append(results, {"kind": "random", "finetune": finetune_scores(out / "random-model", out / "data" / "task",
                                                                       out / "random-finetuned", args.seeds)})
    print(f"bench/wwm.py: {time.time() - started:.0f} s this session")
    print(table(results))


if __name__ == "__main__":
    random.seed(0)
    main()
