"""Bundled pretraining recipes (package data: `electra-cli pretrain --recipe NAME`)."""
