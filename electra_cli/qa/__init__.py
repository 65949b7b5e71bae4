"""Extractive question answering, beside fine-tuning: SQuAD-layout data and windows, answer decoding,
the official metrics, and training (which borrows fine-tuning's steps and search).
"""
