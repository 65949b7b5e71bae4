"""Chinese prose found on a Debian machine: the simplified-Chinese man pages of Debian's `manpages-zh` package.

    apt-get download manpages-zh=1.6.4.0-1      # Debian 12 (bookworm), main; 4.9 MB, GFDL / GPL
    dpkg-deb -x manpages-zh_1.6.4.0-1_all.deb manpages-zh/

(or `apt-get install manpages-zh`: the pages land in /usr/share/man/zh_CN). `man_pages(root)` reads
`root/usr/share/man/zh_CN/man{1,3,5,7,8}/*.gz`, strips the roff markup and returns each page's paragraphs, with the
page's section: the labels of the task in bench/wwm.py (which section a paragraph comes from).
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

SECTIONS = ("1", "3", "5", "7", "8")  # user commands, library calls, file formats, overviews, administration
BREAKS = {".PP", ".LP", ".P", ".TP", ".IP", ".sp", ".br", ".SH", ".SS", ".HP", ".RS", ".RE", ".nf", ".fi", ".in"}
FONT_MACROS = {".B", ".I", ".BR", ".RB", ".BI", ".IB", ".RI", ".IR", ".SM", ".SB"}
ESCAPES = [
    (re.compile(r"\\f(\(..|\[[^\]]*\]|.)"), ""),  # font changes
    (re.compile(r"\\\((em|en)"), "—"),
    (re.compile(r"\\\(..|\\\[[^\]]*\]"), ""),  # other named characters
    (re.compile(r"\\[-]"), "-"),
    (re.compile(r"\\[e\\]"), "\\\\"),
    (re.compile(r"\\[,/&%:|^!c]"), ""),
    (re.compile(r"\\ "), " "),
    (re.compile(r"\\\*\(..|\\\*."), ""),  # strings
    (re.compile(r"\\s[-+]?\d"), ""),  # size changes
]
CJK = re.compile(r"[\u4e00-\u9fff]")


def plain(text: str) -> str:
    for pattern, replacement in ESCAPES:
        text = pattern.sub(replacement, text)
    return text.replace('"', " ").strip() if text.startswith('"') else text.strip()


def paragraphs(source: str) -> list[str]:
    """The prose paragraphs of one roff page, markup removed, each on one line."""
    out, current = [], []

    def flush():
        if current:
            out.append(" ".join(current))
            current.clear()

    for line in source.splitlines():
        if line.startswith((".\\\"", "'\\\"")):
            continue
        if line.startswith((".", "'")):
            macro, _, args = line.partition(" ")
            if macro in BREAKS:
                flush()
                if macro in (".SH", ".SS") and args.strip():
                    out.append(plain(args.replace('"', "")))
            elif macro in FONT_MACROS and args.strip():
                current.append(plain(args.replace('"', "")))
            continue
        text = plain(line)
        if text:
            current.append(text)
    flush()
    return [p for p in (" ".join(p.split()) for p in out) if p]


def man_pages(root: Path) -> list[dict]:
    """[{"name", "section", "paragraphs"}] for every zh_CN page in SECTIONS, in a stable (sorted) order."""
    pages = []
    base = Path(root) / "usr" / "share" / "man" / "zh_CN"
    if not base.is_dir():
        raise SystemExit(f"{base}: not found; see bench/_zh.py for how to get the manpages-zh package")
    for section in SECTIONS:
        for path in sorted((base / f"man{section}").glob("*.gz")):
            source = gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
            pages.append({"name": path.name.removesuffix(".gz"), "section": section, "paragraphs": paragraphs(source)})
    return pages


def cjk_count(text: str) -> int:
    return len(CJK.findall(text))
