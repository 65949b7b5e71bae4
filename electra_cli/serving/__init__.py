"""Using what was trained: `predict` labels files with a fine-tuned folder of any task type; `convert` turns
checkpoints and .bin folders into HF safetensors folders.
"""
