"""`electra-cli predict` (whole process: start-up, model load, read, label, write) against transformers'
`pipeline("text-classification")` on the same folder, warmed, in this process.

    python bench/predict.py [--rows 40000] [--size small] [--batch-size 64] [--precision fp32] [--scale 0] [--work DIR]

Rows are short real text nobody here wrote: the comment lines of the Python sources installed on this machine
(`_corpus.py`), 3 to 40 words each. The folder is a fine-tuned folder as `finetune` writes it (an
ElectraForSequenceClassification with two labels, the electra-small shape unless `--size tiny`, random weights:
speed does not depend on what the weights learned), with a vocabulary trained on the same sources. The pipeline
runs at the same batch size with truncation at the folder's length (and, for reference, at its default batch size
of 1 on the first 1,000 rows); its labels and scores are checked against ours. Prints both times, rows/s, the
ratio (goal >= 2) and our peak RSS; `--precision bf16` runs ours in bf16 (the pipeline stays fp32); `--scale N`
also runs ours on N times the rows to show that memory stays flat.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import python_source_corpus  # noqa: E402

SIZES = {  # (layers, hidden, embedding, heads): the electra-small recipe and the test suite's tiny model
    "small": (12, 256, 128, 4),
    "tiny": (2, 128, 64, 2),
}
MAX_SEQ_LEN = 128  # finetune's default, recorded in the folder

MEASURED = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def comment_rows(corpus: Path, n: int) -> list[str]:
    """The first `n` comment lines of 3 to 40 words (without the leading #), in file order."""
    rows = []
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            text = line.strip()
            if text.startswith("# ") and 3 <= len(text.split()) - 1 <= 40:
                rows.append(text[2:])
                if len(rows) == n:
                    break
    if len(rows) < n:
        sys.exit(f"{corpus}: only {len(rows)} comment lines; use a larger corpus")
    return rows


def build_folder(work: Path, size: str) -> Path:
    """A fine-tuned classification folder: random weights, a vocabulary trained on the benchmark corpus."""
    import torch
    from transformers import ElectraConfig, ElectraForSequenceClassification

    from electra_cli import VocabSettings, build_vocab

    folder = work / f"model-{size}"
    if (folder / "model.safetensors").is_file():
        return folder
    vocab = work / "vocab"
    if not (vocab / "vocab.txt").is_file():
        build_vocab([str(python_source_corpus(work / "corpus.txt", 20_000_000))], vocab, VocabSettings(), overwrite=True)
    layers, hidden, embedding, heads = SIZES[size]
    vocab_size = len((vocab / "vocab.txt").read_text(encoding="utf-8").splitlines())
    config = ElectraConfig(vocab_size=vocab_size, embedding_size=embedding, hidden_size=hidden,
                           num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=4 * hidden,
                           id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1},
                           problem_type="single_label_classification")
    torch.manual_seed(0)
    model = ElectraForSequenceClassification(config).eval()
    model.save_pretrained(folder, safe_serialization=True)
    for name in ("vocab.txt", "tokenizer.json", "special_tokens_map.json"):
        (folder / name).write_bytes((vocab / name).read_bytes())
    tokenizer_config = json.loads((vocab / "tokenizer_config.json").read_text(encoding="utf-8"))
    tokenizer_config["model_max_length"] = MAX_SEQ_LEN  # as finetune records it
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n")
    (folder / "finetune_config.json").write_text(json.dumps({"task_type": "classification",
                                                             "max_seq_len": MAX_SEQ_LEN}) + "\n")
    return folder


def run_ours(folder: Path, data: Path, out: Path, batch_size: int, precision: str) -> dict:
    command = [sys.executable, "-m", "electra_cli", "predict", "--model", str(folder), str(data), "--out", str(out),
               "--overwrite", "--batch-size", str(batch_size), "--precision", precision]
    result = subprocess.run([sys.executable, "-c", MEASURED, *command], check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_pipeline(folder: Path, rows: list[str], batch_size: int) -> tuple[float, list[dict], float]:
    """Seconds and labels at `batch_size`, and rows/s at the pipeline's default batch size (1) on 1,000 rows."""
    import torch
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(folder), device=torch.device("cpu"))
    classify(rows[: 4 * batch_size], batch_size=batch_size, truncation=True)  # warm
    start = time.perf_counter()
    labelled = classify(rows, batch_size=batch_size, truncation=True)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    classify(rows[:1000], truncation=True)
    return seconds, labelled, min(1000, len(rows)) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--size", choices=SIZES, default="small")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32", help="ours only")
    parser.add_argument("--scale", type=int, default=0, help="also run ours on N x the rows (RSS check)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "electra-bench-predict")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    folder = build_folder(args.work, args.size)
    corpus = python_source_corpus(args.work / "corpus.txt", 60_000_000)  # ~100,000 comment lines
    rows = comment_rows(corpus, args.rows * max(1, args.scale))
    data = args.work / "rows.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in rows[: args.rows]), encoding="utf-8")
    print(f"{args.rows:,} rows (mean {sum(len(t.split()) for t in rows[:args.rows]) / args.rows:.1f} words), "
          f"model {args.size} {SIZES[args.size]}, batch {args.batch_size}", flush=True)

    ours = run_ours(folder, data, args.work / "out.jsonl", args.batch_size, args.precision)
    print(f"electra-cli predict {args.precision} (whole process): {ours['seconds']:.2f} s, {args.rows / ours['seconds']:.0f} rows/s, "
          f"peak RSS {ours['rss_mb']:.0f} MB", flush=True)
    seconds, labelled, one_by_one = run_pipeline(folder, rows[: args.rows], args.batch_size)
    print(f"pipeline (warmed, in process):       {seconds:.2f} s, {args.rows / seconds:.0f} rows/s "
          f"(at its default batch size 1: {one_by_one:.0f} rows/s)", flush=True)
    predicted = [json.loads(line) for line in (args.work / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [p["id"] for p in predicted] == list(range(args.rows)), "output order differs from input order"
    same = sum(p["label"] == b["label"] for p, b in zip(predicted, labelled))
    drift = max((abs(p["score"] - b["score"]) for p, b in zip(predicted, labelled) if p["label"] == b["label"]), default=0.0)
    print(f"labels equal to the pipeline's: {same:,}/{args.rows:,}; largest score difference {drift:.2e}")
    print(f"ratio (pipeline time / ours): {seconds / ours['seconds']:.2f}x (goal >= 2)")
    if args.scale > 1:
        big = args.work / "rows-big.jsonl"
        big.write_text("".join(json.dumps({"text": t}) + "\n" for t in rows), encoding="utf-8")
        scaled = run_ours(folder, big, args.work / "out-big.jsonl", args.batch_size, args.precision)
        print(f"ours on {len(rows):,} rows ({big.stat().st_size / 1e6:.0f} MB): {scaled['seconds']:.2f} s, "
              f"peak RSS {scaled['rss_mb']:.0f} MB (against {ours['rss_mb']:.0f} MB at 1x)")


if __name__ == "__main__":
    main()
