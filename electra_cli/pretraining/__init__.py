"""Pretraining: the generator + discriminator model, the recipe schema, the training loop, checkpoints,
starting from published weights, whole-word masking's word table, and the export to HF folders.
"""
