"""A real-text benchmark corpus built from local files: the Python sources installed on this machine."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path


def python_source_corpus(path: Path, target_bytes: int) -> Path:
    """Write at least `target_bytes` of Python source text (stdlib first, then site-packages), sorted, to `path`.

    Files are separated by a blank line, so each file is (at least) one document.
    """
    if path.exists() and path.stat().st_size >= target_bytes:
        return path
    roots = [Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])]
    written = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        while written < target_bytes:
            before = written
            for root in roots:
                for source in sorted(root.rglob("*.py")):
                    try:
                        text = source.read_text(encoding="utf-8")
                    except (OSError, UnicodeDecodeError):
                        continue
                    out.write(text.rstrip() + "\n\n")
                    written += len(text.encode()) + 2
                    if written >= target_bytes:
                        return path
            if written == before:
                sys.exit("no Python sources found to build a corpus from")
    return path
