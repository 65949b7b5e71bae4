"""Sharding as N parts (a cluster's job array, run here one after another) + merge, against one machine.

    python bench/cluster.py [--mb 200] [--parts 1,2,4,8] [--workers 1] [--out cluster.json]

Shards the same corpus (Python source, bench/_corpus.py) on one machine (`electra-cli shard`), then for each N
as N parts (`shard --part I/N`, one after another) joined by `electra-cli merge`, checks that the merged folder
(shards and manifest.json) equals the one-machine folder byte for byte, and prints per N:
1. the parts' CPU seconds summed, beyond their start-ups, against one machine's beyond its start-up
   (goal at N = 8: <= 1.1x);
2. the bytes the parts read, summed, beyond their start-ups, against the corpus size (goal: <= 1.05x);
3. merge's CPU seconds against one machine's (goal: < 10%).
A process's start-up is the same command on a one-line corpus, measured in the same run (for our vocab folder,
used by the job, and for a published-style folder: vocab.txt + tokenizer_config.json + config.json, whose
tokenizer transformers builds).
CPU seconds come from getrusage(RUSAGE_CHILDREN) around each process (robust to a shared machine, unlike wall
time); bytes read are the process's own `rchar` (/proc/self/io, read at exit: every byte read() returned,
cache or disk), less the start-up's (imports, the vocabulary) and less the files the process wrote and read
back once for their sha256 (the shards, a part's units.arrow): what is left is what it read of the corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import python_source_corpus  # noqa: E402

# Runs `python -m electra_cli ARGS` in this very process and writes its /proc/self/io to $IO_OUT at exit.
WITH_IO = r"""
import atexit, os, runpy, sys
atexit.register(lambda: open(os.environ["IO_OUT"], "w").write(open("/proc/self/io").read()))
sys.argv = ["electra-cli", *sys.argv[1:]]
runpy.run_module("electra_cli", run_name="__main__")
"""


# tokenizers' thread pool spins for work: its idle threads' CPU seconds vary by 10-15% between two runs of the same
# command, more than the differences measured here; one thread each makes CPU seconds the work done
ONE_THREAD = {"RAYON_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def measured(tmp: Path, *args: str, written: str = "") -> dict:
    """Run `electra-cli ARGS` in a fresh process: its CPU seconds (user + system), bytes read (rchar) and the
    size of the files matching `written` in its --out folder (each read back once, for its sha256)."""
    io_file = tmp / "io.txt"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", WITH_IO, *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env={**os.environ, "IO_OUT": str(io_file), **ONE_THREAD})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    counters = dict(line.split(": ") for line in io_file.read_text().splitlines())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = Path(args[args.index("--out") + 1])
    hashed = sum(p.stat().st_size for p in out.glob(written)) if written else 0
    return {"cpu": cpu, "read": int(counters["rchar"]) - hashed, "rchar": int(counters["rchar"])}


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "provenance.json"}


def published_style(vocab: Path, folder: Path) -> Path:
    """Our vocab.txt as Google's ELECTRA folders hold theirs (vocab.txt, tokenizer_config.json, a config.json
    naming the model type; no vocab.json), so that transformers builds the tokenizer."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_bytes((vocab / "vocab.txt").read_bytes())
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "model_max_length": 512}))
    config = {"model_type": "electra", "architectures": ["ElectraForPreTraining"]}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def start_ups(tmp: Path, vocabs: dict[str, Path], settings: list[str]) -> dict:
    """The fixed cost of each kind of process: the same commands on a one-line corpus (fastest of 2)."""
    line = tmp / "one-line.txt"
    line.write_text("one short line of text to shard\n")
    costs = {}
    for name, vocab in vocabs.items():
        common = [str(line), "--vocab", str(vocab), *settings]
        runs = {
            f"shard ({name} vocab)": lambda: measured(tmp, "shard", *common, "--out", str(tmp / "s1"), "--overwrite",
                                                      written="*.arrow"),
            f"shard --part ({name} vocab)": lambda: measured(tmp, "shard", *common, "--out", str(tmp / "p1"),
                                                            "--part", "1/1", "--overwrite", written="units.arrow"),
        }
        for what, run in runs.items():
            costs[what] = min((run() for _ in range(2)), key=lambda m: m["cpu"])
    merge = [measured(tmp, "merge", str(tmp / "p1"), "--out", str(tmp / "m1"), "--overwrite") for _ in range(2)]
    costs["merge"] = min(merge, key=lambda m: m["cpu"])
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=200)
    parser.add_argument("--parts", default="1,2,4,8", help="the values of N, comma-separated")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    counts = [int(n) for n in args.parts.split(",")]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        corpus = python_source_corpus(tmp / "corpus.txt", int(args.mb * 1e6))
        size = corpus.stat().st_size
        vocab = tmp / "vocab"
        subprocess.run([sys.executable, "-m", "electra_cli", "vocab", str(corpus), "--out", str(vocab),
                        "--max-bytes", "20000000"], check=True, capture_output=True)
        settings = ["--workers", str(args.workers)]
        fixed = start_ups(tmp, {"our": vocab, "published": published_style(vocab, tmp / "published")}, settings)
        part_fixed, one_fixed = fixed["shard --part (our vocab)"], fixed["shard (our vocab)"]
        common = [str(corpus), "--vocab", str(vocab), *settings]
        one = measured(tmp, "shard", *common, "--out", str(tmp / "one" / "shards"), written="*.arrow")
        reference = files(tmp / "one" / "shards")
        rows = []
        for n in counts:
            folders = [tmp / f"n{n}" / f"part-{i}" for i in range(1, n + 1)]
            parts = [measured(tmp, "shard", *common, "--out", str(f), "--part", f"{i}/{n}", written="units.arrow")
                     for i, f in enumerate(folders, 1)]
            merged = tmp / f"merged-{n}" / "shards"  # beside one/shards: the same relative vocab path
            merge = measured(tmp, "merge", *map(str, folders), "--out", str(merged))
            assert files(merged) == reference, f"N = {n}: merged folder differs from the one-machine folder"
            rows.append({"n": n, "cpu": sum(p["cpu"] for p in parts), "read": sum(p["read"] for p in parts),
                         "each_cpu": [round(p["cpu"], 2) for p in parts], "merge": merge})
            for folder in folders:
                subprocess.run(["rm", "-rf", str(folder)], check=True)
            print(f"N = {n} done", file=sys.stderr, flush=True)
        tokens = json.loads((tmp / "one" / "shards" / "manifest.json").read_text())["examples"]["input_tokens"]

    one_work = one["cpu"] - one_fixed["cpu"]
    print(f"corpus: {size / 1e6:.1f} MB of Python source, {tokens:,} tokens; --workers {args.workers}; "
          "CPU seconds (user + system), bytes read = rchar")
    print("start-up (one-line corpus): " + "; ".join(
        f"{what} {m['cpu']:.2f} CPU s, {m['read'] / 1e6:.1f} MB read" for what, m in fixed.items()))
    print(f"one machine: {one['cpu']:.1f} CPU s ({one_work:.1f} beyond start-up), "
          f"read {(one['read'] - one_fixed['read']) / size:.3f}x the corpus beyond start-up")
    print("| N | parts' CPU s | beyond N start-ups | vs one machine | bytes read / corpus | merge CPU s | "
          "merge / one machine |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        n = row["n"]
        work = row["cpu"] - n * part_fixed["cpu"]
        read = (row["read"] - n * part_fixed["read"]) / size
        merge = row["merge"]["cpu"]
        print(f"| {n} | {row['cpu']:.1f} | {work:.1f} | {work / one_work:.3f}x | {read:.4f}x | {merge:.2f} | "
              f"{merge / one['cpu']:.1%} |")
    print("merged folder == one-machine folder (shards and manifest.json), byte for byte: yes, for every N")
    if args.out:
        args.out.write_text(json.dumps({"corpus_bytes": size, "tokens": tokens, "start_up": fixed, "one": one,
                                        "parts": rows}, indent=1))


if __name__ == "__main__":
    main()
