"""Which start pays at a small budget: random weights, ELECTRA or MLM from scratch, two-stage (MLM then ELECTRA),
a "general" pair, or that pair continued on the domain text (issue 14's "Show" item)?

    python bench/continue.py --out /tmp/continue --seconds 300 --seeds 1,2,3     # every row (resumable)
    python bench/continue.py --out /tmp/continue --only mlm-half --tasks stdlib-package   # some rows (names: ROWS)
    python bench/continue.py --out /tmp/continue --table                         # the markdown table so far

Data, all from Python sources installed here (nothing downloaded):
- domain text: the docstrings of the standard library, test files and the tasks' test docstrings left out as the
  demo does (electra_cli/demo.py), but without the demo's top-up from site-packages;
- general text: docstrings of the virtual environment's site-packages (never the standard library), a hash-chosen
  sample of at most --general-bytes;
- tasks: the demo's two (stdlib-package, returns-value), the same files bench/plateau.py fine-tunes on.
One 8,000-token vocabulary is built on both texts, so every run can start from every other.

Budgets are steps, not wall-clock (the machine is shared): the steps per second of electra-tiny's ELECTRA and of
its MLM objective are measured once (their real training steps timed in alternating rounds; the fastest step
counts, see measure_rates), recorded in OUT/results.jsonl and reused by every later run, and every row gets the same
seconds-equivalent: a stage with a share f of the budget runs f x --seconds x rate(objective) steps. Every
pretraining stage and every (row, task) fine-tuning is appended to OUT/results.jsonl when it finishes and is
skipped on a rerun, so a crash loses little.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Pretraining settings per objective on top of electra-tiny as shipped (lr 2e-4, warmup 200, generator 1/2, no
# dropout). MLM uses plateau.md's MLM learning rate (1e-3) but no dropout, so that every model fine-tunes without
# dropout (fine-tuning keeps the dropout of the model it starts from) and one random-init row is the baseline.
OBJECTIVES = {
    "electra": [],
    "mlm": ["model.objective=mlm", "optim.lr=1e-3"],
}
COMMON = ["train.log_every=10", "train.eval_every=0", "train.save_every=1000000"]

# A row is a chain of stages (corpus, objective, share of the budget); each stage after the first starts from the
# one before: an ELECTRA run from the previous pair (--init-from PREV/final), or from the previous masked LM as
# the discriminator (--init-discriminator PREV/final/generator, the paper's two-stage training).
ROWS = {
    "random": ("random initialisation (electra-tiny, no pretraining)", []),
    "electra": ("ELECTRA from scratch on domain text", [("domain", "electra", 1.0)]),
    "mlm": ("MLM from scratch on domain text", [("domain", "mlm", 1.0)]),
    "two-stage": ("two-stage: MLM on domain 1/2, then ELECTRA on domain 1/2", [("domain", "mlm", 0.5), ("domain", "electra", 0.5)]),
    "general": ("general pair alone: ELECTRA on general text", [("general", "electra", 1.0)]),
    "general+domain": ("general ELECTRA 1/2, continued on domain 1/2", [("general", "electra", 0.5), ("domain", "electra", 0.5)]),
    "two-stage-general": ("two-stage: MLM on general 1/2, then ELECTRA on domain 1/2", [("general", "mlm", 0.5), ("domain", "electra", 0.5)]),
    # diagnostics at HALF the budget (the first stages of the rows above, fine-tuned as they are): does the second
    # stage add to its start, or undo it?
    "mlm-half": ("(half budget) the MLM half of two-stage, alone", [("domain", "mlm", 0.5)]),
    "general-half": ("(half budget) the general half of general+domain, alone", [("general", "electra", 0.5)]),
    "general-mlm-half": ("(half budget) the MLM half of two-stage-general, alone", [("general", "mlm", 0.5)]),
}
FINETUNE = ["epochs=5", "lr=1e-3", "batch_size=16"]  # bench/plateau.py's (the demo's) settings


def is_test_path(path: Path) -> bool:
    return "test" in path.parts or "tests" in path.parts or path.name.startswith("test_")


def build_texts(folder: Path, general_bytes: int) -> dict:
    """domain.txt (stdlib docstrings minus the tasks' test split) and general.txt (site-packages docstrings)."""
    from electra_cli.demo import (
        as_document,
        docstrings,
        source_roots,
        split_of,
        task_label,
    )

    meta_path = folder / "texts.json"
    if meta_path.is_file() and json.loads(meta_path.read_text()).get("general_limit") == general_bytes:
        return json.loads(meta_path.read_text())
    stdlib, purelib = source_roots()
    seen: set[str] = set()
    domain = []
    for path in sorted(stdlib.rglob("*.py")):
        if is_test_path(path) or "site-packages" in path.relative_to(stdlib).parts:
            continue
        package = task_label(path, stdlib)
        for doc, _ in docstrings(path):
            text = as_document(doc)
            if text in seen:
                continue
            seen.add(text)
            if package and split_of(text) == "test":
                continue  # never pretrain on the tasks' test docstrings
            domain.append(text)
    general = []
    for path in sorted(purelib.rglob("*.py")):
        if is_test_path(path) or "electra_cli" in path.parts:
            continue
        for doc, _ in docstrings(path):
            text = as_document(doc)
            if text not in seen:
                seen.add(text)
                general.append(text)
    total = sum(len(t.encode()) + 2 for t in general)
    keep = min(1.0, general_bytes / max(1, total))

    def chosen(text: str) -> bool:  # a hash other than the split's, so the sample is independent of it
        return int.from_bytes(hashlib.sha256(b"general:" + text.encode()).digest()[:8], "big") / 2**64 < keep

    general = [t for t in general if chosen(t)]
    meta = {"general_limit": general_bytes, "general_available_bytes": total}
    for name, texts in (("domain", domain), ("general", general)):
        (folder / f"{name}.txt").write_text("".join(t + "\n\n" for t in texts), encoding="utf-8")
        meta[name] = {"path": str(folder / f"{name}.txt"), "documents": len(texts),
                      "bytes": sum(len(t.encode()) + 2 for t in texts)}
    meta_path.write_text(json.dumps(meta, indent=2))
    return meta


def append(results_file: Path, record: dict) -> None:
    with open(results_file, "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record), flush=True)


def read_results(results_file: Path) -> list[dict]:
    return [json.loads(line) for line in results_file.read_text().splitlines()] if results_file.is_file() else []


def measure_rates(rounds: int, steps_per_round: int) -> dict[str, dict]:
    """Steps per second of each objective's real training step (electra-tiny, batch 32 x 128, AdamW), timed in
    alternating rounds in this process; the rate is 1 / the fastest step. The machine is shared: a short run per
    objective measured ELECTRA while other processes held the cores (0.36 steps/s) and MLM while they did not
    (2.5), so the fastest step of interleaved rounds is what stands for a CPU-second here, for both alike."""
    import torch

    from electra_cli.bench import random_batch
    from electra_cli.pretraining.model import Electra, parameter_groups
    from electra_cli.pretraining.recipe import load_pretrain_config

    torch.manual_seed(0)
    setups = {}
    for objective, overrides in OBJECTIVES.items():
        cfg = load_pretrain_config("electra-tiny", overrides)
        model = Electra(cfg.model, 8000)
        setups[objective] = (model, torch.optim.AdamW(parameter_groups(model, 0.01), lr=1e-4),
                             random_batch(cfg.train.batch_size, cfg.data.max_seq_len, 8000, torch.device("cpu")))
    timings: dict[str, list[float]] = {o: [] for o in OBJECTIVES}
    for round_ in range(rounds):
        for objective, (model, optimizer, batch) in setups.items():
            for _ in range(steps_per_round):
                start = time.perf_counter()
                model(**batch)["loss"].backward()
                optimizer.step()
                optimizer.zero_grad()
                if round_:  # the first round warms up
                    timings[objective].append(time.perf_counter() - start)
    return {o: {"objective": o, "steps_per_s": round(1 / min(t), 3), "fastest_s": round(min(t), 4),
                "median_s": round(statistics.median(t), 4), "timed_steps": len(t)} for o, t in timings.items()}


def markdown_table(results_file: Path) -> str:
    """One row per ROWS entry measured: stages, steps, seconds, final discriminator figures, fine-tuned accuracy."""
    records = read_results(results_file)
    stages = {r["run"]: r for r in records if r.get("kind") == "stage"}
    scores = {(r["row"], r["task"]): r for r in records if r.get("kind") == "finetune"}
    tasks = sorted({t for _, t in scores}, reverse=True)
    lines = ["| row | start | steps | wall s (CPU s) | disc ratio | disc AUC | gen acc | " + " | ".join(tasks) + " |",
             "| --- " * (7 + len(tasks)) + "|"]

    def fmt(value, digits=3):
        return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else f"{value:,}"

    for name, (description, chain) in ROWS.items():
        if not any((name, t) in scores for t in tasks):
            continue
        runs = [stages.get(r) for r in run_names(chain)]
        if None in runs:
            continue
        last = runs[-1] if runs else {}
        steps = " + ".join(fmt(r["steps"]) for r in runs) or "-"
        seconds = " + ".join(f"{r['seconds']:.0f} ({r['cpu_seconds']:.0f})" for r in runs) or "-"
        electra = next((r for r in reversed(runs) if r["objective"] == "electra"), None)
        cells = []
        for task in tasks:
            s = scores.get((name, task))
            cells.append("-" if s is None else f"{s['median']:.3f} ({', '.join(f'{x:.3f}' for x in s['seeds'])})")
        lines.append(f"| {name} | {description} | {steps} | {seconds} | {fmt(electra and electra.get('val_ratio'))} | "
                     f"{fmt(electra and electra.get('val_auc'))} | {fmt(last.get('gen_acc'))} | " + " | ".join(cells) + " |")
    majority = {r["task"]: r for r in records if r.get("kind") == "majority"}
    if majority:
        lines.append("| majority | always the commonest training label | - | - | - | - | - | "
                     + " | ".join(f"{majority[t]['validation']:.3f}" if t in majority else "-" for t in tasks) + " |")
    return "\n".join(lines)


def run_names(chain: list[tuple[str, str, float]]) -> list[str]:
    """The run folder name of each stage: a stage's name includes the stages it continues, so runs are shared
    between rows exactly when they are the same computation."""
    names, prefix = [], ""
    for corpus, objective, share in chain:
        prefix = (prefix + "--" if prefix else "") + f"{corpus}-{objective}-{share:g}"
        names.append(prefix)
    return names


def main() -> None:
    from electra_cli.core.console import setup_logging
    from electra_cli.demo import build_demo_data, save_random_init
    from electra_cli.finetuning.config import load_finetune_config
    from electra_cli.pretraining.model import hf_configs
    from electra_cli.pretraining.recipe import load_pretrain_config
    from electra_cli.pretraining.train import pretrain
    from electra_cli.shards.write import ShardSettings, shard_corpus
    from electra_cli.tasks.dispatch import finetune
    from electra_cli.text.corpus import CorpusOptions
    from electra_cli.vocab.load import load_vocab_manifest
    from electra_cli.vocab.train import VocabSettings, build_vocab

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/continue"))
    parser.add_argument("--seconds", type=float, default=300.0, help="pretraining seconds-equivalent per row")
    parser.add_argument("--general-bytes", type=int, default=12_000_000, help="cap on the general text")
    parser.add_argument("--rate-rounds", type=int, default=8, help="alternating rounds of 4 timed steps per objective")
    parser.add_argument("--only", nargs="*", help="run only these rows (names in ROWS)")
    parser.add_argument("--tasks", nargs="*", help="fine-tune only on these demo tasks (default: both)")
    parser.add_argument("--seeds", default="1,2,3", help="fine-tuning seeds (the median is reported)")
    parser.add_argument("--epochs", type=float, default=5.0, help="fine-tuning epochs (5: the demo's; less only to smoke-test)")
    parser.add_argument("--table", action="store_true", help="print OUT/results.jsonl as a markdown table and exit")
    args = parser.parse_args()
    out = args.out
    results_file = out / "results.jsonl"
    if args.table:
        print(markdown_table(results_file))
        return
    setup_logging()
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    data = build_demo_data(out / "data", 3_000_000)  # only its tasks are used: the same files as bench/plateau.py
    texts = build_texts(out / "data", args.general_bytes)
    vocab = out / "vocab"
    if not (vocab / "vocab.json").is_file():
        build_vocab([texts["domain"]["path"], texts["general"]["path"]], vocab, VocabSettings(vocab_size=8000),
                    CorpusOptions())
    shards = {}
    for corpus in ("domain", "general"):
        shards[corpus] = out / f"shards-{corpus}"
        if not (shards[corpus] / "manifest.json").is_file():
            shard_corpus([texts[corpus]["path"]], vocab, shards[corpus],
                         ShardSettings(max_seq_len=128, validation_fraction=0.01))
    records = read_results(results_file)
    if not any(r.get("kind") == "texts" for r in records):
        manifests = {c: json.loads((shards[c] / "manifest.json").read_text()) for c in shards}
        append(results_file, {"kind": "texts", **texts, "train_rows": {
            c: m["splits"]["train"]["rows"] for c, m in manifests.items()}})
        for task in data.tasks:
            labels = {s: [json.loads(x)["label"] for x in getattr(task, s).read_text().splitlines()]
                      for s in ("train", "validation")}
            commonest = max(set(labels["train"]), key=labels["train"].count)
            append(results_file, {"kind": "majority", "task": task.name, "label": commonest,
                                  "train": labels["train"].count(commonest) / len(labels["train"]),
                                  "validation": labels["validation"].count(commonest) / len(labels["validation"]),
                                  "sizes": task.sizes})

    rates = {r["objective"]: r for r in records if r.get("kind") == "rate"}
    if set(rates) != set(OBJECTIVES):  # measured once: every later run reuses them, so rows stay comparable
        rates = measure_rates(args.rate_rounds, 4)
        for rate in rates.values():
            append(results_file, {"kind": "rate", **rate, "load": round(os.getloadavg()[0], 2)})

    finetune_overrides = [o for o in FINETUNE if not o.startswith("epochs=")] + [f"epochs={args.epochs:g}",
                                                                              f"seeds=[{args.seeds}]"]
    for row, (description, chain) in ROWS.items():
        if args.only and row not in args.only:
            continue
        model_dir = None
        for (corpus, objective, share), name in zip(chain, run_names(chain)):
            run = out / "runs" / name
            done = {r["run"]: r for r in read_results(results_file) if r.get("kind") == "stage"}
            if name not in done:
                steps = max(20, round(share * args.seconds * rates[objective]["steps_per_s"]))
                overrides = COMMON + OBJECTIVES[objective] + [f"train.steps={steps}"]
                if model_dir is not None:  # continue the previous stage
                    overrides.append(f"init.discriminator={model_dir}" if model_dir.name == "generator"
                                     else f"init.from_dir={model_dir.parent}")
                cfg = load_pretrain_config("electra-tiny", overrides)
                t0, cpu0, load0 = time.time(), time.process_time(), os.getloadavg()[0]
                result = pretrain(cfg, shards[corpus], run, overwrite=True)
                v = result["validation"]
                append(results_file, {"kind": "stage", "run": name, "corpus": corpus, "objective": objective,
                                      "share": share, "steps": steps, "seconds": round(time.time() - t0, 1),
                                      "cpu_seconds": round(time.process_time() - cpu0, 1),
                                      "load_before_after": [round(load0, 2), round(os.getloadavg()[0], 2)],
                                      "init": overrides[-1] if model_dir is not None else None,
                                      "val_ratio": v.get("disc_loss_ratio"), "val_auc": v.get("disc_auc"),
                                      "gen_acc": v.get("gen_acc"), "dropout": cfg.model.dropout})
            model_dir = run / "final" / ("discriminator" if objective == "electra" else "generator")
        if model_dir is None:  # the electra-tiny discriminator, randomly initialised, with the same tokenizer
            model_dir = out / "random-model"
            if not (model_dir / "config.json").is_file():
                disc_config, _ = hf_configs(load_pretrain_config("electra-tiny", []).model,
                                            load_vocab_manifest(vocab)["vocab_size"])
                save_random_init(disc_config, vocab, model_dir)
        done = {(r["row"], r["task"]) for r in read_results(results_file) if r.get("kind") == "finetune"}
        for task in data.tasks:
            if (row, task.name) in done or (args.tasks and task.name not in args.tasks):
                continue
            t0 = time.time()
            ft = finetune(load_finetune_config(None, finetune_overrides), model_dir, task.train, task.validation,
                          out / "finetuned" / row / task.name, overwrite=True)
            append(results_file, {"kind": "finetune", "row": row, "task": task.name, "model": str(model_dir),
                                  "median": ft["median"], "seeds": [s["accuracy"] for s in ft["seeds"]],
                                  "seed_ids": args.seeds, "epochs": args.epochs, "seconds": round(time.time() - t0, 1)})
    print(f"done in {(time.time() - started) / 60:.1f} min", flush=True)
    print(markdown_table(results_file))


if __name__ == "__main__":
    main()
