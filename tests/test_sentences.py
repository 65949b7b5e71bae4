"""Sentence splitting: the bulk pass over a chunk gives exactly what splitting each line alone gives."""

import random

from electra_cli.text.sentences import split_documents, split_sentences
from tests.conftest import WORDS, make_sentences

TRICKY = [
    "Dr. Smith met Mr. Jones at 5 p.m. Then they left.",
    "He said \"stop.\" Then he ran! Why? Because.",
    "The U.S. army arrived. It was 1945. (Nobody knew.) [Really.] 'Yes.' “Quite.” Fine",
    "它很好。我们走吧！真的？“是的。”好",
    "ends with a period.",
    "x = obj.attr. Y = 2.  Z",
    "e.g. This is fig. 3 and vol. 2. Done. A. B. Carter wrote it.",
    "...",
    "!? Start",
    "trailing\tspace.\u2028Next line-separator char. Ok",
    "À la carte. Ébène. Ørsted. Þorn.",
]


def test_bulk_split_equals_split_per_line():
    rng = random.Random(7)
    docs = [TRICKY[i : i + 3] for i in range(0, len(TRICKY), 3)]
    for _ in range(300):  # sentence-per-line, paragraph-per-line, code-like and unpunctuated lines
        kind = rng.randrange(4)
        if kind == 0:
            docs.append(make_sentences(rng, rng.randint(1, 6)))
        elif kind == 1:
            docs.append([" ".join(make_sentences(rng, rng.randint(2, 6))) for _ in range(rng.randint(1, 4))])
        elif kind == 2:
            docs.append([f"x.{w} = f(a. B)  # {w.capitalize()}. Then {w}." for w in rng.sample(WORDS, 5)])
        else:
            docs.append([" ".join(rng.sample(WORDS, 8)) for _ in range(3)])
    docs.append(["Last line ends here.", "Next line starts with a capital: no split across lines."])
    expected = [[s for line in doc for s in split_sentences(line)] for doc in docs]
    assert split_documents(docs) == expected
    assert sum(map(len, expected)) > sum(map(len, docs)) + 300  # boundaries were found: the test means something
    assert split_sentences(TRICKY[0]) == ["Dr. Smith met Mr. Jones at 5 p.m.", "Then they left."]  # not after Dr., Mr.
    assert split_sentences(TRICKY[3]) == ["它很好。", "我们走吧！", "真的？", "“是的。”", "好"]
    plain = [["no boundary here", "nor here"], ["x = 1"]]
    assert split_documents(plain) is plain
