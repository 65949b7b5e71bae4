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


def paragraph_corpus(path: Path, target_bytes: int) -> Path:
    """Write at least `target_bytes` of prose with a paragraph per line: the package descriptions (READMEs, with
    their code blocks and lists) in the `*.dist-info/METADATA` files installed on this machine, each reflowed so
    that a paragraph (text between blank lines) is one line; a description per document; repeated when short."""
    if path.exists() and path.stat().st_size >= target_bytes:
        return path
    documents = []
    for metadata in sorted(Path(sysconfig.get_paths()["purelib"]).glob("*.dist-info/METADATA")):
        text = metadata.read_text(encoding="utf-8", errors="replace")
        body = text.split("\n\n", 1)[1] if "\n\n" in text else ""  # the headers end at the first blank line
        paragraphs = [" ".join(p.split()) for p in body.split("\n\n")]
        if paragraphs := [p for p in paragraphs if p]:
            documents.append("\n".join(paragraphs))
    if not documents:
        sys.exit("no package descriptions found to build a corpus from")
    written = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        while written < target_bytes:
            for doc in documents:
                out.write(doc + "\n\n")
                written += len(doc.encode()) + 2
    return path
