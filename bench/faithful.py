"""What fine-tuning as google-research/electra does changes on the demo's tasks, one setting at a time.

    python bench/faithful.py --out /tmp/faithful --seeds 1,2,3            # pretrain once, then every setting
    python bench/faithful.py --out /tmp/faithful --table                  # the markdown table of what was measured

Pretrains `electra-tiny` for a fixed number of steps on the demo's docstring corpus (once; reused on a rerun),
then fine-tunes that same discriminator on each demo task with each setting in SETTINGS (overrides on the plain
fine-tuning defaults, which are the reference's, plus the demo's lr 1e-3, batch 16, 5 epochs) and reports the
median (each seed) validation accuracy. The question it answers is bench/faithful.md's: what does the reference's
one-layer head (dropout, one dense layer on [CLS]) change against HF's two-layer ElectraClassificationHead, and
what do the reference's settings change together against electra-cli's HF-style fine-tuning before them.
Results are appended to OUT/results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SETTINGS = {
    "reference (one-layer head)": [],
    "reference, HF's two-layer head": ["head=hf"],
    "HF-style (electra-cli before)": ["schedule=warmup-then-decay", "adam_bias_correction=true",
                                      "layer_decay_style=contiguous", "head=hf"],
    "HF-style, one-layer head": ["schedule=warmup-then-decay", "adam_bias_correction=true",
                                 "layer_decay_style=contiguous"],
}
FINETUNE = ["epochs=5", "lr=1e-3", "batch_size=16"]  # the demo's fine-tuning settings


def markdown_table(results_file: Path) -> str:
    records = [json.loads(line) for line in results_file.read_text().splitlines()]
    tasks = sorted({r["task"] for r in records}, reverse=True)
    lines = ["| setting | " + " | ".join(tasks) + " | seconds |", "| --- " * (len(tasks) + 2) + "|"]
    for setting in dict.fromkeys(r["setting"] for r in records):
        cells, seconds = [], 0.0
        for task in tasks:
            found = [r for r in records if r["setting"] == setting and r["task"] == task]
            if not found:
                cells.append("-")
                continue
            r = found[-1]
            seconds += r["seconds"]
            cells.append(f"{r['median']:.3f} ({', '.join(f'{x:.3f}' for x in r['seeds'])})")
        lines.append(f"| {setting} | " + " | ".join(cells) + f" | {seconds:.0f} |")
    return "\n".join(lines)


def main() -> None:
    from electra_cli.core.console import setup_logging
    from electra_cli.demo import build_demo_data
    from electra_cli.finetuning.config import load_finetune_config
    from electra_cli.pretraining.recipe import load_pretrain_config
    from electra_cli.pretraining.train import pretrain
    from electra_cli.shards.write import ShardSettings, shard_corpus
    from electra_cli.tasks.dispatch import finetune
    from electra_cli.text.corpus import CorpusOptions
    from electra_cli.vocab.train import VocabSettings, build_vocab

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/faithful"))
    parser.add_argument("--steps", type=int, default=300, help="pretraining steps of electra-tiny")
    parser.add_argument("--corpus-bytes", type=int, default=2_000_000)
    parser.add_argument("--seeds", default="1,2,3", help="fine-tuning seeds (the median is reported)")
    parser.add_argument("--only", nargs="*", help="run only these settings (names as in SETTINGS)")
    parser.add_argument("--table", action="store_true", help="print OUT/results.jsonl as a markdown table and exit")
    args = parser.parse_args()
    results_file = args.out / "results.jsonl"
    if args.table:
        print(markdown_table(results_file))
        return
    setup_logging()
    out = args.out
    data = build_demo_data(out / "data", args.corpus_bytes)
    vocab, shards, run = out / "vocab", out / "shards", out / f"run-{args.steps}"
    if not (vocab / "vocab.json").is_file():
        build_vocab([str(data.corpus)], vocab, VocabSettings(vocab_size=8000), CorpusOptions())
    if not (shards / "manifest.json").is_file():
        shard_corpus([str(data.corpus)], vocab, shards, ShardSettings(max_seq_len=128, validation_fraction=0.01))
    model = run / "final" / "discriminator"
    if not (model / "config.json").is_file():
        overrides = [f"train.steps={args.steps}", "train.log_every=50", "train.eval_every=0", "train.save_every=1000000"]
        pretrain(load_pretrain_config("electra-tiny", overrides), shards, run, overwrite=True)
    for setting, overrides in SETTINGS.items():
        if args.only and setting not in args.only:
            continue
        for task in data.tasks:
            cfg = load_finetune_config(None, FINETUNE + overrides + [f"seeds=[{args.seeds}]"])
            started = time.time()
            target = out / "finetuned" / setting.replace(" ", "_").replace(",", "").replace("'", "") / task.name
            ft = finetune(cfg, model, task.train, task.validation, target, overwrite=True)
            scores = [s[ft["metric"]] for s in ft["seeds"]]
            record = {"setting": setting, "overrides": overrides, "task": task.name, "pretrain_steps": args.steps,
                      "corpus_bytes": args.corpus_bytes, "median": statistics.median(scores), "seeds": scores,
                      "train_examples": ft["train_examples"], "seconds": round(time.time() - started, 1)}
            with open(results_file, "a") as f:
                f.write(json.dumps(record) + "\n")
            print(json.dumps(record), flush=True)
    print(markdown_table(results_file))


if __name__ == "__main__":
    main()
