"""Tasks: the registry of every benchmark preset (GLUE, SQuAD, CMRC 2018, the Chinese benchmarks), their readers and
official metrics, finetune's dispatcher, `electra-cli score` and `electra-cli evaluate`."""
