"""Fine-tuning settings: the paper's fixed defaults (before issue 17), the built-in search (now the default) and a
wider search, on the demo's two tasks and a 16-class task, from random initialisation and from a pretrained start.

    flock /tmp/electra-bench.lock python bench/finetune.py --out /tmp/ftbench           # everything (resumable)
    python bench/finetune.py --out /tmp/ftbench --table                                 # the markdown table so far

Data, all from Python sources installed here (nothing downloaded):
- the demo's tasks, built as the demo builds them (electra_cli/demo.py, 3 MB corpus limit as bench/plateau.py):
  stdlib-package (12 classes) and returns-value (2 classes);
- site-package: which of 16 site-packages a docstring comes from (the start of the docstring, as the demo's tasks),
  balanced, 250 / 60 / 60 docstrings per class for train / validation / test (4,000 training rows); its validation
  and test docstrings are removed from the pretraining corpus.
Models: electra-tiny's architecture (2 layers, hidden 128, no dropout) with an 8,000-token vocabulary built on the
pretraining corpus, from random weights, and from an MLM-objective run of --pretrain-steps steps on that corpus
(bench/plateau.md: MLM is the better start at a few CPU-minutes), fine-tuned from its masked LM.

Phase 1: each (task, model) is ONE `finetune` call with no lr, i.e. the new default (the built-in search: lr 3e-4
and 1e-3 at 3 epochs, batch 32, seeds 1,2,3, every setting x seed trained). Read from its per-run records:
- old default: the lr 3e-4 setting, the only one `finetune` trained before (the paper's rule for hidden <= 256);
- new default: the better validation median of the two (what `finetune` now keeps), its test accuracy.
Phase 2: the same with lr 3e-3 alone; with phase 1's two rates it makes the wider search `--lr 3e-4,1e-3,3e-3`.
A setting's runs are the same computation whichever policy reads them (same config, seeds and data), so reading
them from these calls is exact; the cost of a policy is the summed wall-clock of its runs (measured beside other
work on a shared 2-core machine: compare the ratios). Validation medians of chosen settings carry the selection's
optimism; the test split is scored for the default's kept model only (finetune scores the chosen setting only).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SITE_PACKAGES = ("transformers", "torch", "sympy", "scipy", "pandas", "matplotlib", "sklearn", "pip", "wandb",
                 "networkx", "numpy", "setuptools", "huggingface_hub", "fontTools", "tensorboard", "pydantic")
PER_CLASS = {"train": 250, "validation": 60, "test": 60}
COMMON = ["epochs=3", "batch_size=32", "max_seq_len=128"]  # finetune's defaults, spelled out


def build_site_package_task(folder: Path) -> dict:
    """site-package-{train,validation,test}.jsonl: balanced rows per package, chosen by a hash of the text."""
    from electra_cli.demo import TASK_TEXT_CHARS, as_document, docstrings, source_roots

    paths = {split: folder / f"site-package-{split}.jsonl" for split in PER_CLASS}
    if all(p.is_file() for p in paths.values()):
        return paths
    purelib = source_roots()[1]
    rows = {split: [] for split in PER_CLASS}
    for package in SITE_PACKAGES:
        texts = set()
        for path in sorted((purelib / package).rglob("*.py")):
            if "test" in path.parts or "tests" in path.parts or path.name.startswith("test_"):
                continue
            texts.update(" ".join(as_document(doc).split())[:TASK_TEXT_CHARS] for doc, _ in docstrings(path))
        ordered = sorted(texts, key=lambda t: hashlib.sha256(t.encode()).hexdigest())
        start = 0
        for split, n in PER_CLASS.items():
            if len(ordered) < start + n:
                sys.exit(f"{package}: only {len(ordered)} docstrings, the task needs {sum(PER_CLASS.values())}")
            rows[split] += [{"text": t, "label": package} for t in ordered[start : start + n]]
            start += n
    for split, split_rows in rows.items():
        paths[split].write_text("".join(json.dumps(r) + "\n" for r in split_rows), encoding="utf-8")
    return paths


def pretraining_corpus(demo_corpus: Path, held_out: list[Path], out: Path) -> tuple[Path, int]:
    """The demo corpus without any document whose task text is in a held-out split (the demo already leaves its
    own test docstrings out; this removes the site-package task's validation and test docstrings)."""
    from electra_cli.demo import TASK_TEXT_CHARS

    if out.is_file():
        return out, -1
    banned = {json.loads(line)["text"] for path in held_out for line in path.read_text().splitlines()}
    documents = demo_corpus.read_text(encoding="utf-8").split("\n\n")
    kept = [d for d in documents if d.strip() and " ".join(d.split())[:TASK_TEXT_CHARS] not in banned]
    out.write_text("".join(d + "\n\n" for d in kept), encoding="utf-8")
    return out, len(documents) - len(kept)


def prepare(out: Path, pretrain_steps: int) -> dict:
    """Tasks, vocab, shards, the MLM run and the random-init folder (each reused when present)."""
    from transformers import ElectraConfig

    from electra_cli.demo import build_demo_data, save_random_init
    from electra_cli.pretraining.recipe import load_pretrain_config
    from electra_cli.pretraining.train import pretrain
    from electra_cli.shards.write import ShardSettings, shard_corpus
    from electra_cli.text.corpus import CorpusOptions
    from electra_cli.vocab.train import VocabSettings, build_vocab

    data = build_demo_data(out / "data", 3_000_000)
    site = build_site_package_task(out / "data")
    tasks = {t.name: {"train": t.train, "validation": t.validation, "test": t.test} for t in data.tasks}
    tasks["site-package"] = site
    corpus, removed = pretraining_corpus(data.corpus, [site["validation"], site["test"]], out / "data" / "pretrain.txt")
    meta_path = out / "prepared.json"
    if meta_path.is_file():
        return json.loads(meta_path.read_text()) | {"tasks": {k: {s: str(p) for s, p in v.items()} for k, v in tasks.items()}}
    build_vocab([str(corpus)], out / "vocab", VocabSettings(vocab_size=8000), CorpusOptions(), overwrite=True)
    shard_corpus([str(corpus)], out / "vocab", out / "shards", ShardSettings(max_seq_len=128, validation_fraction=0.01),
                 CorpusOptions(summary=False), overwrite=True)
    cfg = load_pretrain_config("electra-tiny", ["model.objective=mlm", "optim.lr=1e-3", "train.log_every=50",
                                                "train.eval_every=0", f"train.steps={pretrain_steps}",
                                                f"train.save_every={pretrain_steps}"])
    started = time.time()
    pretrain(cfg, out / "shards", out / "mlm", overwrite=True)
    seconds = time.time() - started
    pretrained = out / "mlm" / "final" / "generator"
    save_random_init(ElectraConfig.from_pretrained(pretrained), pretrained, out / "random-init")
    meta = {"pretrain_steps": pretrain_steps, "pretrain_seconds": round(seconds, 1), "removed_documents": removed,
            "models": {"random init": str(out / "random-init"), f"MLM {pretrain_steps} steps": str(pretrained)}}
    meta_path.write_text(json.dumps(meta, indent=2))
    return meta | {"tasks": {k: {s: str(p) for s, p in v.items()} for k, v in tasks.items()}}


def policy(summary: dict, settings: list[dict]) -> dict:
    """The best (validation median) of `settings` among a search's settings; cost: all their runs' seconds."""
    from electra_cli.finetuning.search import rank

    chosen = [s for s in summary["settings"] if any(s["lr"] == x["lr"] and s["epochs"] == x["epochs"] for x in settings)]
    best = max(chosen, key=lambda s: rank(s["median"]))  # ties: the first listed, as finetune
    index = summary["settings"].index(best)
    runs = [r for r in summary["runs"] if r["setting"] == index]
    used = {summary["settings"].index(s) for s in chosen}
    seconds = sum(r["seconds"] for r in summary["runs"] if r["setting"] in used)
    key = summary["metric"]
    return {"lr": best["lr"], "epochs": best["epochs"], "median": best["median"], "seeds": [r[key] for r in runs],
            "collapsed": sum(bool(r["collapse"].get("collapsed")) for r in runs), "seconds": round(seconds, 1),
            "macro_f1": statistics.median(r.get("macro_f1", float("nan")) for r in runs)}


def run(out: Path, pretrain_steps: int, seeds: str, only: list[str] | None) -> None:
    """Phase 1: every (task, model) with `finetune`'s default (no lr: the built-in search); phase 2: the same with
    lr 3e-3 alone, which with phase 1's two rates makes the wider search."""
    from electra_cli.finetuning.config import load_finetune_config
    from electra_cli.tasks.dispatch import finetune

    prepared = prepare(out, pretrain_steps)
    results_file = out / "results.jsonl"
    for phase, extra in (("default", []), ("lr 3e-3", ["lr=3e-3"])):
        done = {(r["task"], r["model"]) for r in read_results(results_file) if r.get("phase", "default") == phase}
        for task in ("stdlib-package", "site-package", "returns-value"):  # the binary task last: the least telling
            files = prepared["tasks"][task]
            if only and task not in only:
                continue
            for model, folder in prepared["models"].items():
                if (task, model) in done:
                    continue
                cfg = load_finetune_config(None, COMMON + extra + [f"seeds=[{seeds}]"])
                target = out / "ft" / f"{task}-{model.split()[0].lower()}-{phase.replace(' ', '')}"
                started = time.time()
                summary = finetune(cfg, Path(folder), Path(files["train"]), Path(files["validation"]), target,
                                   test_file=Path(files["test"]), overwrite=True, task_name=task)
                record = {"phase": phase, "task": task, "model": model, "metric": summary["metric"],
                          "settings": [policy(summary, [s]) for s in summary["settings"]],
                          "chosen": policy(summary, summary["settings"]), "test": summary.get("test"),
                          "wall_seconds": round(time.time() - started, 1)}
                with open(results_file, "a") as f:
                    f.write(json.dumps(record) + "\n")
                print(json.dumps(record), flush=True)


def read_results(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def cell(p: dict) -> str:
    collapsed = f"; {p['collapsed']}/{len(p['seeds'])} collapsed" if p["collapsed"] else ""
    return f"{p['median']:.3f} ({', '.join(f'{x:.3f}' for x in p['seeds'])}){collapsed}"


def table(out: Path) -> str:
    """One row per (task, model): the old default (lr 3e-4), the built-in search's choice, the wider search's
    (with lr 3e-3 from phase 2, when measured), test accuracy of the default's kept model, costs."""
    from electra_cli.finetuning.search import rank

    rows = read_results(out / "results.jsonl")
    extra = {(r["task"], r["model"]): r for r in rows if r.get("phase") == "lr 3e-3"}
    lines = ["| task | start | old default: lr 3e-4 | new default (built-in search: lr 3e-4, 1e-3) | "
             "wider search: lr 3e-4, 1e-3, 3e-3 | test, new default's model | cost: new / old | cost: wider / old |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if r.get("phase", "default") != "default":
            continue
        old = next(s for s in r["settings"] if s["lr"] == 3e-4)
        new = r["chosen"]
        both = r["settings"] + (extra[(r["task"], r["model"])]["settings"] if (r["task"], r["model"]) in extra else [])
        wide = max(both, key=lambda s: rank(s["median"]))  # ties: the first, as finetune
        wide_seconds = sum(s["seconds"] for s in both)
        wide_cell = (f"{cell(wide)} (lr {wide['lr']:g})" if len(both) > len(r["settings"]) else "not measured")
        lines.append(
            f"| {r['task']} | {r['model']} | {cell(old)} | {cell(new)} (lr {new['lr']:g}) | {wide_cell} | "
            f"{(r['test'] or {}).get(r['metric'], float('nan')):.3f} | "
            f"{new['seconds'] / old['seconds']:.2f}x ({new['seconds'] / 60:.1f} min) | "
            + (f"{wide_seconds / old['seconds']:.2f}x ({wide_seconds / 60:.1f} min) |" if len(both) > len(r["settings"]) else "- |"))
    return "\n".join(lines)


def settings_table(out: Path) -> str:
    """Every measured setting: validation median (seeds), macro-F1 median, collapsed seeds, seconds of its 3 runs."""
    lines = ["| task | start | lr | validation accuracy, median (seeds) | macro-F1 (median) | collapsed seeds | "
             "seconds (3 runs) |", "| --- | --- | --- | --- | --- | --- | --- |"]
    rows = sorted(read_results(out / "results.jsonl"), key=lambda r: (r["task"], r["model"]))
    for r in rows:
        for s in r["settings"]:
            lines.append(f"| {r['task']} | {r['model']} | {s['lr']:g} | {s['median']:.3f} "
                         f"({', '.join(f'{x:.3f}' for x in s['seeds'])}) | {s['macro_f1']:.3f} | "
                         f"{s['collapsed']}/{len(s['seeds'])} | {s['seconds']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pretrain-steps", type=int, default=1000)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--only", nargs="*", help="task names")
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    if not args.table:
        from electra_cli.core.console import setup_logging

        setup_logging()
        args.out.mkdir(parents=True, exist_ok=True)
        run(args.out, args.pretrain_steps, args.seeds, args.only)
    print(table(args.out) + "\n\n" + settings_table(args.out))


if __name__ == "__main__":
    main()
