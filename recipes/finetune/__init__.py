"""Bundled fine-tuning recipes (package data: `electra-cli finetune --recipe NAME`)."""
