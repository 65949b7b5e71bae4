"""How fast does a small ELECTRA leave the discriminator plateau per CPU-minute, and does it pay downstream?

    python bench/plateau.py --out /tmp/plateau --minutes 3 [--only NAME ...]

For each setting (overrides on the electra-tiny recipe), on the demo's docstring corpus: pretrain for a fixed
wall-clock budget, record the step and time at which the discriminator's loss ratio (loss / entropy of the
replaced share) first drops below 0.8, the final validation ratio and AUC, then fine-tune on the demo task
(which stdlib package a docstring comes from) and report validation accuracy next to random initialisation.
Results are appended to OUT/results.jsonl and printed as a markdown table (bench/plateau.md keeps ours).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SETTINGS = {
    "baseline (lr 5e-4, generator 1/2)": [],
    "generator 1/4": ["model.generator_multiplier=0.25"],
    "generator 1/4, lr 1e-3": ["model.generator_multiplier=0.25", "optim.lr=1e-3"],
    "generator 1/4, lr 1e-3, dropout 0": ["model.generator_multiplier=0.25", "optim.lr=1e-3", "model.dropout=0.0"],
    "generator 1/4, 4 layers": ["model.generator_multiplier=0.25", "model.layers=4"],
    "mlm (BERT-style), lr 1e-3": ["optim.lr=1e-3", "model.objective=mlm"],
    "lr 2e-4, warmup 200": ["optim.lr=2e-4", "optim.warmup_steps=200"],
    "hidden 256, generator 1/4": ["model.hidden=256", "model.heads=4", "model.generator_multiplier=0.25"],
    "lr 2e-4, warmup 200, generator 1/4, 4 layers": ["optim.lr=2e-4", "optim.warmup_steps=200",
                                                     "model.generator_multiplier=0.25", "model.layers=4"],
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


def main() -> None:
    from electra_cli.console import setup_logging
    from electra_cli.corpus import CorpusOptions
    from electra_cli.demo import build_demo_data, calibrate_steps, save_random_init
    from electra_cli.finetune import finetune, load_finetune_config
    from electra_cli.pretrain import load_pretrain_config, pretrain
    from electra_cli.shard import ShardSettings, shard_corpus
    from electra_cli.vocab import VocabSettings, build_vocab

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("/tmp/plateau"))
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--corpus-bytes", type=int, default=3_000_000)
    parser.add_argument("--only", nargs="*", help="run only the settings whose name contains one of these ('random' too)")
    parser.add_argument("--seeds", default="1", help="fine-tuning seeds, e.g. 1,2,3 (the median is reported)")
    args = parser.parse_args()
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
        ft_cfg = load_finetune_config(None, finetune_overrides)
        ft = finetune(ft_cfg, run / "final" / final, data.train, data.validation, run / "finetuned", overwrite=True)
        record = {"setting": name, "minutes": args.minutes, "overrides": overrides, "steps": steps, "seconds": round(seconds, 1),
                  "step_ratio_below_0.8": step_08,
                  "minutes_to_0.8": round(seconds * step_08 / steps / 60, 2) if step_08 else None,
                  "val_ratio": result["validation"].get("disc_loss_ratio"), "val_auc": result["validation"].get("disc_auc"),
                  "gen_acc": result["validation"].get("gen_acc"), "finetune_median": ft["median"],
                  "finetune_seeds": [s["accuracy"] for s in ft["seeds"]]}
        with open(results_file, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)
    random_dir = out / f"random-init-{args.seeds.replace(',', '-')}"
    if not (random_dir / "metrics.json").is_file() and (not args.only or "random" in args.only):
        some_run = next((out / "runs").iterdir())
        final = some_run / "final" / "discriminator"
        save_random_init(final if final.is_dir() else some_run / "final" / "generator", out / "random-model")
        ft = finetune(load_finetune_config(None, finetune_overrides), out / "random-model", data.train, data.validation,
                      random_dir, overwrite=True)
        record = {"setting": "random init", "finetune_median": ft["median"], "finetune_seeds": [s["accuracy"] for s in ft["seeds"]]}
        with open(results_file, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
