"""Reading what users bring: corpora (plain, compressed, JSONL, Parquet, folders), sentence splitting, Chinese
word segmentation, and the labelled tables (CSV, TSV, JSONL, Parquet) that fine-tuning and predict read.
"""
