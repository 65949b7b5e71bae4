"""`electra-cli vocab` (whole process: read + train + write) against tokenizers' trainer on in-memory text.

    python bench/vocab.py [--mb 40] [--vocab-size 30522]

Prints both times, their ratio (goal <= 1.15) and the peak RSS of each. The baseline trains the same
tokenizer with the same settings on the same lines, already read into memory, in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import python_source_corpus  # noqa: E402

BASELINE = r"""
import json, resource, sys, time
from tokenizers import trainers
from electra_cli.vocab.wordpiece import SPECIAL_TOKENS, new_tokenizer
path, vocab_size = sys.argv[1], int(sys.argv[2])
with open(path, encoding="utf-8") as f:
    lines = [s for line in f if (s := line.strip())]
batches = [lines[i : i + 1000] for i in range(0, len(lines), 1000)]
tokenizer = new_tokenizer(lowercase=True)
trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS,
                                    limit_alphabet=6000, continuing_subword_prefix="##", show_progress=False)
start = time.perf_counter()
tokenizer.train_from_iterator(batches, trainer=trainer)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

MEASURED = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def run_json(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=40)
    parser.add_argument("--vocab-size", type=int, default=30522)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = python_source_corpus(Path(tmp) / "corpus.txt", int(args.mb * 1e6))
        size_mb = corpus.stat().st_size / 1e6
        base, ours = [], []
        for i in range(args.repeats):  # interleaved, so drift on a noisy machine hits both
            base.append(run_json(BASELINE, str(corpus), str(args.vocab_size)))
            cmd = [sys.executable, "-m", "electra_cli", "vocab", str(corpus), "--out", f"{tmp}/v{i}",
                   "--vocab-size", str(args.vocab_size)]
            ours.append(run_json(MEASURED, *cmd))
        b = min(r["seconds"] for r in base)
        o = min(r["seconds"] for r in ours)
        print(f"corpus: {size_mb:.1f} MB of Python source, vocab size {args.vocab_size}, best of {args.repeats}")
        print(f"tokenizers trainer on in-memory lines: {b:7.2f} s   peak RSS {max(r['rss_mb'] for r in base):7.0f} MB")
        print(f"electra-cli vocab (whole process):     {o:7.2f} s   peak RSS {max(r['rss_mb'] for r in ours):7.0f} MB")
        print(f"ratio (goal <= 1.15): {o / b:.3f}")


if __name__ == "__main__":
    main()
