"""Sharding as parts (a cluster's job array, run here one after another) + merge, against one machine.

    python bench/cluster.py [--mb 40] [--parts 4] [--workers 2] [--rounds 2]

Shards the same corpus on one machine (`electra-cli shard`), then as `--parts` parts (`shard --part I/N`, one
after another, each with the same workers) and `electra-cli merge`, checks that the merged folder equals the
one-machine folder byte for byte, and prints:
1. merge's time as a share of the one-machine time (goal <= 10%);
2. the parts' total time (merge excluded) against the one-machine time (goal <= 1.1x);
3. merge's peak RSS next to the size of the parts it read (it streams: RSS must not follow the data).
Each figure is the fastest of `--rounds` alternating rounds (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import python_source_corpus

TIMED = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def timed(*args: str) -> dict:
    """Run `electra-cli ARGS` in a fresh process; its wall time and peak RSS."""
    cmd = [sys.executable, "-c", TIMED, sys.executable, "-m", "electra_cli", *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "provenance.json"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=40)
    parser.add_argument("--parts", type=int, default=4)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        corpus = python_source_corpus(tmp / "corpus.txt", int(args.mb * 1e6))
        vocab = tmp / "vocab"
        subprocess.run([sys.executable, "-m", "electra_cli", "vocab", str(corpus), "--out", str(vocab),
                        "--max-bytes", "20000000"], check=True, capture_output=True)
        common = [str(corpus), "--vocab", str(vocab), "--workers", str(args.workers)]
        best = {"one": float("inf"), "parts": float("inf"), "merge": float("inf")}
        each: list[float] = []
        merge_rss = 0.0
        for r in range(args.rounds):
            one = timed("shard", *common, "--out", str(tmp / "one" / "shards"), "--overwrite")
            best["one"] = min(best["one"], one["seconds"])
            folders = [tmp / f"r{r}" / f"part-{i}" for i in range(1, args.parts + 1)]
            runs = [timed("shard", *common, "--out", str(f), "--part", f"{i}/{args.parts}")
                    for i, f in enumerate(folders, 1)]
            if sum(x["seconds"] for x in runs) < best["parts"]:
                best["parts"], each = sum(x["seconds"] for x in runs), [x["seconds"] for x in runs]
            merged = tmp / "merged" / "shards"
            merge = timed("merge", *map(str, folders[::-1]), "--out", str(merged), "--overwrite")
            best["merge"] = min(best["merge"], merge["seconds"])
            merge_rss = max(merge_rss, merge["rss_mb"])
            assert files(merged) == files(tmp / "one" / "shards"), "merged shards differ from the one-machine shards"
        part_mb = sum(p.stat().st_size for p in folders[0].parent.glob("part-*/units.arrow")) / 1e6
        shard_mb = sum(p.stat().st_size for p in merged.glob("*.arrow")) / 1e6
        tokens = json.loads((merged / "manifest.json").read_text())["examples"]["input_tokens"]
        mb = corpus.stat().st_size / 1e6
        print(f"corpus: {mb:.1f} MB of Python source, {tokens:,} tokens; {args.workers} workers per run; "
              f"fastest of {args.rounds} rounds")
        print(f"one machine:          {best['one']:7.2f} s")
        print(f"{args.parts} parts, in a row:    {best['parts']:7.2f} s  (each: "
              + ", ".join(f"{s:.2f}" for s in each) + ")")
        print(f"merge:                {best['merge']:7.2f} s  peak RSS {merge_rss:.0f} MB while reading "
              f"{part_mb:.0f} MB of parts and writing {shard_mb:.0f} MB of shards")
        print("merged folder == one-machine folder, byte for byte: yes")
        print(f"merge / one machine (goal <= 10%):        {best['merge'] / best['one']:.1%}")
        print(f"parts' total / one machine (goal <= 1.1x): {best['parts'] / best['one']:.2f}x")
        print(f"parts + merge / one machine:              {(best['parts'] + best['merge']) / best['one']:.2f}x")


if __name__ == "__main__":
    main()
