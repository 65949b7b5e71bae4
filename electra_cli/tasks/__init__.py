"""Benchmark presets read from the datasets' own files (the Chinese benchmarks: HFL's tasks, CLUE, Chinese NER),
their official metrics, `electra-cli score`, and the benchmarks' submission files."""
