"""`electra-cli shard` throughput against two baselines measured in the same run, and its peak memory.

    python bench/shard.py [--mb 40] [--workers 2] [--scale 4] [--rounds 3] [--text python|paragraphs]
    python bench/shard.py --zh /tmp/manpages-zh --skip-python [--workers 2]     # word segmentation only

1. raw `Tokenizer.encode_batch` over the same lines, already in memory, with the same number of processes
   (goal: ours >= 0.8 of it, although ours also reads, packs and writes);
2. an HF `datasets` pipeline (load_dataset("text") -> map(tokenize) -> map(group texts into 128-token blocks))
   (goal: ours >= 2x);
3. peak RSS of `electra-cli shard` on the corpus and on one `--scale` times larger (goal: it does not grow).

With `--zh DIR` (the extracted manpages-zh package, see bench/_zh.py), the cost of word segmentation on Chinese
text: rjieba vs pure-Python jieba over the same lines in one process (and how often they cut a line the same),
and `electra-cli shard --segment rjieba` vs `electra-cli shard` with the same workers, in alternating rounds.
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
from _corpus import paragraph_corpus, python_source_corpus  # noqa: E402

RAW = r"""
import json, multiprocessing as mp, os, sys, time
os.environ["TOKENIZERS_PARALLELISM"] = "false"
from tokenizers import Tokenizer
tok = None
def init(path):
    global tok
    tok = Tokenizer.from_file(path)
def encode(lines):
    return sum(len(e.ids) for e in getattr(tok, METHOD)(lines, add_special_tokens=False))
if __name__ == "__main__":
    corpus, tokenizer, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    METHOD = sys.argv[4] if len(sys.argv) > 4 else "encode_batch"
    with open(corpus, encoding="utf-8") as f:
        lines = [s for line in f if (s := line.strip())]
    chunks = [lines[i : i + 10000] for i in range(0, len(lines), 10000)]
    with mp.get_context("fork").Pool(workers, initializer=init, initargs=(tokenizer,)) as pool:
        pool.map(encode, chunks[:workers])  # warm up the workers
        start = time.perf_counter()
        tokens = sum(pool.imap(encode, chunks))
        seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "tokens": tokens}))
"""

DATASETS = r"""
import json, sys, tempfile, time
import datasets
from transformers import AutoTokenizer
corpus, vocab, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
datasets.disable_caching()
tok = AutoTokenizer.from_pretrained(vocab)
block = 128 - 2
def tokenize(batch):
    return {"ids": tok(batch["text"], add_special_tokens=False)["input_ids"]}
def group(batch):
    flat = [t for ids in batch["ids"] for t in ids]
    return {"input_ids": [[2] + flat[i : i + block] + [3] for i in range(0, len(flat), block)]}
start = time.perf_counter()
with tempfile.TemporaryDirectory() as cache:
    ds = datasets.load_dataset("text", data_files=corpus, split="train", cache_dir=cache)
    ds = ds.filter(lambda b: [bool(t.strip()) for t in b["text"]], batched=True, num_proc=workers)
    ds = ds.map(tokenize, batched=True, num_proc=workers, remove_columns=["text"])
    ds = ds.map(group, batched=True, num_proc=workers, remove_columns=["ids"])
    rows = len(ds)
print(json.dumps({"seconds": time.perf_counter() - start, "rows": rows}))
"""

OURS = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def run_json(code: str, *args: str) -> dict:
    env = dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def ours(corpus: Path, vocab: Path, out: Path, workers: int) -> dict:
    cmd = [sys.executable, "-m", "electra_cli", "shard", str(corpus), "--vocab", str(vocab), "--out", str(out),
           "--workers", str(workers), "--overwrite"]
    return run_json(OURS, *cmd)


SEGMENTERS = r"""
import json, sys, time
import jieba, rjieba
jieba.setLogLevel(60)
with open(sys.argv[1], encoding="utf-8") as f:
    lines = [s for line in f if (s := line.strip())]
chars = sum(map(len, lines))
jieba.initialize()
rust = rjieba.Jieba()
rust.cut("预热")
timings, cuts = {}, {}
for name, cut in (("rjieba", lambda s: rust.cut(s, True)), ("jieba", lambda s: list(jieba.cut(s, HMM=True)))):
    start = time.perf_counter()
    cuts[name] = [cut(s) for s in lines]
    timings[name] = time.perf_counter() - start
same = sum(a == b for a, b in zip(cuts["rjieba"], cuts["jieba"])) / len(lines)
def ends(words):
    out, at = set(), 0
    for w in words:
        at += len(w)
        out.add(at)
    return out
cjk = lambda c: "\u4e00" <= c <= "\u9fff"
between = differ = 0  # positions between two Chinese characters, and those where the two cut differently
for line, a, b in zip(lines, cuts["rjieba"], cuts["jieba"]):
    if a == b:
        between += sum(cjk(line[k - 1]) and cjk(line[k]) for k in range(1, len(line)))
        continue
    ea, eb = ends(a), ends(b)
    for k in range(1, len(line)):
        if cjk(line[k - 1]) and cjk(line[k]):
            between += 1
            differ += (k in ea) != (k in eb)
words = [w for w in (s.split()[0] for s in open(jieba.get_dict_file().name, encoding="utf-8")) if len(w) > 1][:20000]
start = time.perf_counter()
user = rjieba.Jieba()
for w in words:
    user.add_word(w, None, None)
add = time.perf_counter() - start
print(json.dumps({"lines": len(lines), "chars": chars, "seconds": timings, "same_cut": same,
                  "cjk_positions": between, "cjk_differ": differ,
                  "user_words": len(words), "add_word_seconds": add}))
"""


def segmentation(manpages: Path, tmp: Path, workers: int, rounds: int = 2) -> None:
    """Word segmentation's cost on Chinese text (see the module docstring)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _zh import man_pages

    corpus = tmp / "zh.txt"
    corpus.write_text("\n\n".join("\n".join(p["paragraphs"]) for p in man_pages(manpages)) + "\n", encoding="utf-8")
    mb = corpus.stat().st_size / 1e6
    seg = run_json(SEGMENTERS, str(corpus))
    rust, python = seg["seconds"]["rjieba"], seg["seconds"]["jieba"]
    print(f"Chinese corpus: {mb:.1f} MB of manpages-zh, {seg['lines']:,} lines, {seg['chars']:,} characters")
    print(f"rjieba (Rust) cut:        {rust:7.2f} s  {seg['chars'] / rust / 1e6:6.2f} M chars/s")
    print(f"jieba (pure Python) cut:  {python:7.2f} s  {seg['chars'] / python / 1e6:6.2f} M chars/s")
    print(f"rjieba speed-up over jieba: {python / rust:.1f}x; same cut on {seg['same_cut']:.1%} of lines; "
          f"between two Chinese characters they cut differently at {seg['cjk_differ']:,} of "
          f"{seg['cjk_positions']:,} positions")
    print(f"user dictionary: rjieba has no load_userdict; add_word of {seg['user_words']:,} words "
          f"{seg['add_word_seconds']:.2f} s ({seg['add_word_seconds'] / seg['user_words'] * 1e6:.1f} us/word)")
    subprocess.run([sys.executable, "-m", "electra_cli", "vocab", str(corpus), "--out", str(tmp / "zh-vocab"),
                    "--vocab-size", "8000"], check=True, capture_output=True)
    best = {"none": float("inf"), "rjieba": float("inf")}
    for _ in range(rounds):
        for segment in best:
            cmd = [sys.executable, "-m", "electra_cli", "shard", str(corpus), "--vocab", str(tmp / "zh-vocab"),
                   "--out", str(tmp / f"zh-{segment}"), "--workers", str(workers), "--overwrite", "--segment", segment]
            best[segment] = min(best[segment], run_json(OURS, *cmd)["seconds"])
    sizes = {s: sum(p.stat().st_size for p in (tmp / f"zh-{s}").glob("*.arrow")) for s in best}
    print(f"electra-cli shard, {workers} workers (fastest of {rounds}): without segmentation {best['none']:.2f} s, "
          f"--segment rjieba {best['rjieba']:.2f} s: ratio {best['rjieba'] / best['none']:.2f}")
    print(f"shard bytes: {sizes['none']:,} without, {sizes['rjieba']:,} with the word column "
          f"(x{sizes['rjieba'] / sizes['none']:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=40)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="alternating raw / ours pairs; the median ratio counts")
    parser.add_argument("--text", choices=("python", "paragraphs"), default="python",
                        help="the corpus: Python sources (a line of code per line), or package descriptions with a "
                        "paragraph per line (where sentence splitting has the most to do)")
    parser.add_argument("--zh", type=Path, help="extracted manpages-zh package: measure word segmentation")
    parser.add_argument("--skip-python", action="store_true", help="only the --zh measurements")
    args = parser.parse_args()
    if args.zh:
        with tempfile.TemporaryDirectory() as tmp_name:
            segmentation(args.zh, Path(tmp_name), args.workers)
    if args.skip_python:
        return
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        build = python_source_corpus if args.text == "python" else paragraph_corpus
        corpus = build(tmp / "corpus.txt", int(args.mb * 1e6))
        mb = corpus.stat().st_size / 1e6
        subprocess.run([sys.executable, "-m", "electra_cli", "vocab", str(corpus), "--out", str(tmp / "vocab"),
                        "--max-bytes", "20000000"], check=True, capture_output=True)
        tokenizer = str(tmp / "vocab" / "tokenizer.json")
        pairs = []
        for _ in range(args.rounds):  # back to back, so that load from elsewhere hits both of a pair alike
            pairs.append((run_json(RAW, str(corpus), tokenizer, str(args.workers)),
                          ours(corpus, tmp / "vocab", tmp / "shards", args.workers)))
        raw, mine = min(pairs, key=lambda p: p[1]["seconds"])
        ratios = sorted(r["seconds"] / m["seconds"] for r, m in pairs)
        fast = run_json(RAW, str(corpus), tokenizer, str(args.workers), "encode_batch_fast")
        hf = run_json(DATASETS, str(corpus), str(tmp / "vocab"), str(args.workers))
        manifest = json.loads((tmp / "shards" / "manifest.json").read_text())
        tokens = manifest["examples"]["input_tokens"]
        kind = "Python source" if args.text == "python" else "package descriptions, a paragraph per line"
        print(f"corpus: {mb:.1f} MB of {kind}, {tokens:,} tokens, {args.workers} workers")
        print(f"raw encode_batch (in memory):  {raw['seconds']:7.2f} s  {raw['tokens'] / raw['seconds'] / 1e6:6.2f} M tok/s")
        print(f"raw encode_batch_fast (no offsets, what shard calls): {fast['seconds']:7.2f} s")
        print(f"electra-cli shard (process):   {mine['seconds']:7.2f} s  {tokens / mine['seconds'] / 1e6:6.2f} M tok/s"
              f"  peak RSS {mine['rss_mb']:.0f} MB")
        print(f"datasets map + group texts:    {hf['seconds']:7.2f} s")
        print(f"ratio to raw encode_batch (goal >= 0.8): median {ratios[len(ratios) // 2]:.3f} of {args.rounds} pairs "
              f"({', '.join(f'{r:.3f}' for r in ratios)})")
        print(f"speed-up over datasets (goal >= 2):      {hf['seconds'] / mine['seconds']:.2f}x")
        big = tmp / "big.txt"
        with open(big, "wb") as out:
            for _ in range(args.scale):
                out.write(corpus.read_bytes())
        mine_big = ours(big, tmp / "vocab", tmp / "shards-big", args.workers)
        print(f"peak RSS: {mb:.0f} MB corpus {mine['rss_mb']:.0f} MB, {mb * args.scale:.0f} MB corpus "
              f"{mine_big['rss_mb']:.0f} MB (ratio {mine_big['rss_mb'] / mine['rss_mb']:.2f}, goal ~1)")


if __name__ == "__main__":
    main()
