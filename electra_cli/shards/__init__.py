"""Shards: packing a corpus into Arrow IPC files of ELECTRA examples with a manifest (write), and reading them
back as seeded, resumable batches for pretraining (read).
"""
