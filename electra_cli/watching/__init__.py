"""How runs report themselves: trackers (TensorBoard, W&B) fed from metrics.jsonl, the plateau health
verdict, the model card's fine-tuning results, and `plot`'s figures and index.html.
"""
