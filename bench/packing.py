"""Tokens kept by `electra-cli shard` on a paragraph-per-line corpus: `--overflow carry` (the default) against
`--overflow truncate` (the reference's packing), and what carrying costs in time.

    python bench/packing.py [--mb 5] [--max-seq-len 128] [--rounds 2] [--workers 2]

The corpus is the package descriptions installed on this machine (`*.dist-info/METADATA`: READMEs with code
blocks and lists, written by many hands), a paragraph per line (bench/_corpus.py). Goal: carry keeps >= 99% of
the corpus' tokens, at a time ratio within noise of 1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import paragraph_corpus  # noqa: E402


def shard(corpus: Path, vocab: Path, out: Path, overflow: str, max_seq_len: int, workers: int) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "electra_cli", "shard", str(corpus), "--vocab", str(vocab), "--out", str(out),
           "--max-seq-len", str(max_seq_len), "--workers", str(workers), "--overflow", overflow, "--overwrite"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start, json.loads((out / "manifest.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=5)
    parser.add_argument("--max-seq-len", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        corpus = paragraph_corpus(tmp / "paragraphs.txt", int(args.mb * 1e6))
        subprocess.run([sys.executable, "-m", "electra_cli", "vocab", str(corpus), "--out", str(tmp / "vocab"),
                        "--vocab-size", "16000"], check=True, capture_output=True)
        seconds: dict[str, list[float]] = {"carry": [], "truncate": []}
        examples = {}
        for _ in range(args.rounds):  # alternating, so drift on a noisy machine hits both
            for overflow in seconds:
                took, manifest = shard(corpus, tmp / "vocab", tmp / overflow, overflow, args.max_seq_len, args.workers)
                seconds[overflow].append(took)
                examples[overflow] = manifest["examples"]
        lines = sum(1 for line in corpus.open(encoding="utf-8") if line.strip())
        print(f"corpus: {corpus.stat().st_size / 1e6:.1f} MB of package descriptions, {lines:,} paragraphs (lines), "
              f"max_seq_len {args.max_seq_len}, {args.workers} workers, best of {args.rounds}")
        for overflow, ex in examples.items():
            total, dropped = ex["input_tokens"], ex["truncated_tokens"]
            print(f"--overflow {overflow:8s}: kept {(total - dropped) / total:7.2%} of {total:,} tokens, "
                  f"{ex['examples']:,} examples, {1 - ex['single_segment'] / ex['examples']:.1%} with two segments, "
                  f"{min(seconds[overflow]):.2f} s")
        ratio = statistics.median(c / t for c, t in zip(seconds["carry"], seconds["truncate"]))
        print(f"time carry / truncate (median of rounds, goal ~1): {ratio:.3f}")


if __name__ == "__main__":
    main()
