"""electra-cli: train your own ELECTRA from a raw corpus to a fine-tuned classifier."""

__version__ = "0.1.0"
