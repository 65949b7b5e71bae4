"""Pretraining step speed: ours against a naive HF-classes baseline, side by side (same as `electra-cli bench`).

    python bench/pretrain.py [--recipe electra-small] [--precision bf16] [--compile] [--json]
"""

import subprocess
import sys

if __name__ == "__main__":
    sys.exit(subprocess.call([sys.executable, "-m", "electra_cli", "bench", *sys.argv[1:]]))
