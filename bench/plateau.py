"""How fast does a small ELECTRA leave the discriminator plateau per CPU-minute, and does it pay downstream?

    python bench/plateau.py --out /tmp/plateau --minutes 5 --seeds 1,2,3 [--only NAME ...] [--tasks TASK ...]
    python bench/plateau.py --out /tmp/plateau --table        # the markdown table of everything measured so far

For each setting (overrides on the electra-tiny recipe), on the demo's docstring corpus: pretrain for a fixed
wall-clock budget, record the step and time at which the discriminator's loss ratio (loss / entropy of the
replaced share) first drops below 0.8, the final validation ratio and AUC, then fine-tune on the demo's tasks
(which stdlib package a docstring comes from; whether its function returns a value) and report the median
validation accuracy over the seeds, next to random initialisation. Results are appended to OUT/results.jsonl
(bench/plateau.md keeps ours). Nothing else may run on the machine meanwhile: budgets are wall-clock.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Each setting spells out what differs from the electra-tiny recipe as shipped (lr 2e-4, warmup 200, generator
# 1/2, no dropout), so the rows of bench/plateau.md reproduce even though the recipe moved under them.
OLD = ["optim.lr=5e-4", "optim.warmup_steps=100", "model.dropout=0.1"]  # the first tiny recipe
DROPOUT = ["model.dropout=0.1"]
SETTINGS = {
    "baseline (lr 5e-4, generator 1/2)": OLD,
    "generator 1/4": OLD + ["model.generator_multiplier=0.25"],
    "generator 1/4, lr 1e-3": OLD + ["model.generator_multiplier=0.25", "optim.lr=1e-3"],
    "generator 1/4, lr 1e-3, dropout 0": OLD + ["model.generator_multiplier=0.25", "optim.lr=1e-3", "model.dropout=0.0"],
    "generator 1/4, 4 layers": OLD + ["model.generator_multiplier=0.25", "model.layers=4"],
    "hidden 256, generator 1/4": OLD + ["model.hidden=256", "model.heads=4", "model.generator_multiplier=0.25"],
    "mlm (BERT-style), lr 1e-3": DROPOUT + ["optim.lr=1e-3", "model.objective=mlm"],
    "lr 2e-4, warmup 200": DROPOUT,
    "lr 2e-4, warmup 200, generator 1/4, 4 layers": DROPOUT + ["model.generator_multiplier=0.25", "model.layers=4"],
    "gdes, lr 2e-4, warmup 200": DROPOUT + ["model.embedding_sharing=gdes"],
    "gdes, lr 1e-3, warmup 200": DROPOUT + ["optim.lr=1e-3", "model.embedding_sharing=gdes"],
    "seq 64": DROPOUT + ["data.max_seq_len=64"],
    "batch 16": DROPOUT + ["train.batch_size=16"],
    "generator 1/1": DROPOUT + ["model.generator_multiplier=1.0"],
    "dropout 0": [],  # electra-tiny as shipped
}
FINETUNE = ["epochs=5", "lr=1e-3", "batch_size=16", "seeds=[1]"]


def first_below(metrics_file: Path, threshold: float) -> tuple[int | None, float | None]:
    start = None
    for line in metrics_file.read_text().splitlines():
        record = json.loads(line)
        if "validation" in record or "disc_loss_ratio" not in record:
            continue
        if record["disc_loss_ratio"] < threshold:
            return record["step"], None
    return None, start


def markdown_table(results_file: Path) -> str:
    """One row per measured (budget, setting); fine-tuned accuracy as median (each seed) per task."""
    records = [json.loads(line) for line in results_file.read_text().splitlines()]
    tasks = sorted({t for r in records for t in r.get("finetune", {})}, reverse=True)
    lines = ["| minutes | setting | steps | first < 0.8 | final ratio | disc AUC | gen acc | " + " | ".join(tasks) + " |",
             "| --- " * (7 + len(tasks)) + "|"]

    def fmt(value, digits=3):
        return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    for r in records:
        if "finetune" not in r:
            continue  # written by an older version of this script
        scores = [r["finetune"].get(t) for t in tasks]
        cells = ["-" if s is None else f"{s['median']:.3f} ({', '.join(f'{x:.3f}' for x in s['seeds'])})" for s in scores]
        lines.append(f"| {'-' if r.get('minutes') is None else format(r['minutes'], 'g')} | {r['setting']} | {fmt(r.get('steps'))} | "
                     f"{fmt(r.get('step_ratio_below_0.8'))} | {fmt(r.get('val_ratio'))} | {fmt(r.get('val_auc'))} | "
                     f"{fmt(r.get('gen_acc'))} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    from electra_cli.core.console import setup_logging
    from electra_cli.demo import build_demo_data, calibrate_steps, save_random_init
    from electra_cli.finetuning.config import load_finetune_config
    from electra_cli.pretraining.model import hf_configs
    from electra_cli.pretraining.recipe import load_pretrain_config
    from electra_cli.pretraining.train import pretrain
    from electra_cli.shards.write import ShardSettings, shard_corpus
    from electra_cli.tasks.dispatch import finetune
    from electra_cli.text.corpus import CorpusOptions
    from electra_cli.vocab.load import load_vocab_manifest
    from electra_cli.vocab.train import VocabSettings, build_vocab

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("/tmp/plateau"))
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--corpus-bytes", type=int, default=3_000_000)
    parser.add_argument("--only", nargs="*", help="run only the settings whose name contains one of these ('random' too)")
    parser.add_argument("--tasks", nargs="*", help="fine-tune only on these demo tasks (default: all)")
    parser.add_argument("--seeds", default="1", help="fine-tuning seeds, e.g. 1,2,3 (the median is reported)")
    parser.add_argument("--table", action="store_true", help="print OUT/results.jsonl as a markdown table and exit")
    args = parser.parse_args()
    if args.table:
        print(markdown_table(args.out / "results.jsonl"))
        return
    setup_logging()
    out = args.out
    data = build_demo_data(out / "data", args.corpus_bytes)
    vocab = out / "vocab"
    if not (vocab / "vocab.json").is_file():
        build_vocab([str(data.corpus)], vocab, VocabSettings(vocab_size=8000), CorpusOptions())
    shards = {}
    for seq in (64, 128):
        shards[seq] = out / f"shards-{seq}"
        if not (shards[seq] / "manifest.json").is_file():
            shard_corpus([str(data.corpus)], vocab, shards[seq], ShardSettings(max_seq_len=seq, validation_fraction=0.01))
    results_file = out / "results.jsonl"
    finetune_overrides = [o for o in FINETUNE if not o.startswith("seeds=")] + [f"seeds=[{args.seeds}]"]

    def finetune_all(model: Path, target: Path) -> dict:
        """Median fine-tuned validation accuracy (and each seed's) on every demo task."""
        scores = {}
        for task in data.tasks:
            if args.tasks and task.name not in args.tasks:
                continue
            ft = finetune(load_finetune_config(None, finetune_overrides), model, task.train, task.validation,
                          target / task.name, overwrite=True)
            scores[task.name] = {"median": ft["median"], "seeds": [s["accuracy"] for s in ft["seeds"]]}
        return scores

    for name, overrides in SETTINGS.items():
        if args.only and name not in args.only and not any(o in name for o in args.only if o not in SETTINGS):
            continue
        seq = 64 if "data.max_seq_len=64" in overrides else 128
        base = ["train.log_every=10", "train.eval_every=0", "train.save_every=1000000"] + overrides
        steps, per_step = calibrate_steps("electra-tiny", base, args.minutes)
        cfg = load_pretrain_config("electra-tiny", base + [f"train.steps={steps}"])
        run = out / "runs" / f"{args.minutes:g}min-{name}".replace(" ", "_").replace(",", "").replace("/", "-")
        started = time.time()
        result = pretrain(cfg, shards[seq], run, overwrite=True)
        seconds = time.time() - started
        step_08, _ = first_below(run / "metrics.jsonl", 0.8)
        final = "discriminator" if cfg.model.objective == "electra" else "generator"
        record = {"setting": name, "minutes": args.minutes, "overrides": overrides, "steps": steps, "seconds": round(seconds, 1),
                  "step_ratio_below_0.8": step_08,
                  "minutes_to_0.8": round(seconds * step_08 / steps / 60, 2) if step_08 else None,
                  "val_ratio": result["validation"].get("disc_loss_ratio"), "val_auc": result["validation"].get("disc_auc"),
                  "gen_acc": result["validation"].get("gen_acc"),
                  "finetune": finetune_all(run / "final" / final, run / "finetuned")}
        with open(results_file, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)
    random_dir = out / f"random-init-{args.seeds.replace(',', '-')}"
    if not (random_dir / "done").is_file() and (not args.only or "random" in args.only):
        # the electra-tiny discriminator, randomly initialised, with the same tokenizer
        disc_config, _ = hf_configs(load_pretrain_config("electra-tiny", []).model, load_vocab_manifest(vocab)["vocab_size"])
        save_random_init(disc_config, vocab, out / "random-model")
        record = {"setting": "random init", "finetune": finetune_all(out / "random-model", random_dir)}
        (random_dir / "done").write_text("")
        with open(results_file, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
