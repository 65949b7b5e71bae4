"""Fine-tuning on labelled rows: classification, regression and token tagging (train), the search over
settings and seeds, the collapse check, metrics, and the pieces question answering shares (steps).
"""
