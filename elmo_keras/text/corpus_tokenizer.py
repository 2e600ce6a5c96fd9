"""A simple, documented English tokenizer and sentence splitter for building corpora.

Training text for a biLM is one sentence per line, tokens separated by spaces. This
module makes that from running text:

- `split_sentences(text)`: paragraphs are separated by blank lines; lines within a
  paragraph are joined; a sentence ends after `.`, `!` or `?` (and any closing quotes or
  brackets) followed by whitespace and then an upper-case letter, a digit, or an opening
  quote or bracket. Common abbreviations (`Mr.`, `Dr.`, `e.g.`, ...) do not end one.
- `tokenize(sentence)`: words keep inner apostrophes and hyphens (`don't`,
  `daisy-chain`, `Alice's`), numbers keep inner `.`/`,` (`3.14`, `1,000`), and every
  other non-space character is a token of its own (punctuation, quotes, brackets).

It does not change case or characters: the char CNN sees the text as written.

`SPLITS` names the two ways a model's text is split into tokens: `"whitespace"` (the
text is tokenized already) and `"corpus"` (this tokenizer).
"""

import re

#: How a sentence becomes tokens (`ELMoTokenizer(split=...)`, `elmo_keras.text.inputs`).
SPLITS = ("whitespace", "corpus")

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|\w+(?:['\u2019\-]\w+)*|[^\w\s]", re.UNICODE)
# The same pattern in RE2 syntax (TensorFlow's string ops: `ELMoTokenizer(split="corpus")`),
# where \w, \d and \s are ASCII only: Python's Unicode \w is [\p{L}\p{N}_], \d is
# \p{Nd}, and \s is RE2's \s plus \p{Z}, \v, \x1c-\x1f and \x85. A test checks the two
# tokenize real text the same.
_W = r"\p{L}\p{N}_"
TOKEN_PATTERN_RE2 = (
    r"\p{Nd}+(?:[.,]\p{Nd}+)*"
    rf"|[{_W}]+(?:['\x{{2019}}\-][{_W}]+)*"
    rf"|[^{_W}\s\p{{Z}}\x{{0b}}\x{{1c}}-\x{{1f}}\x{{85}}]")
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "rev", "gen", "col", "capt", "lt",
    "vs", "etc", "e.g", "i.e", "cf", "no", "vol", "fig", "mt", "ft",
}
_END = re.compile(r"""[.!?]+['"\u2019\u201d)\]]*(?=\s+['"\u2018\u201c(\[]*[A-Z0-9])""")


def check_split(split):
    """`split` if it is one of `SPLITS`; ValueError otherwise."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r:.60}")
    return split


def tokenize(sentence):
    """The tokens of one sentence (see the module docstring)."""
    return _TOKEN.findall(sentence)


def split_sentences(text):
    """The sentences of running text, whitespace normalized (see the module docstring)."""
    sentences = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = " ".join(paragraph.split())
        start = 0
        for m in _END.finditer(paragraph):
            word = paragraph[start:m.start()].rsplit(" ", 1)[-1].lower()
            if m.group(0).startswith(".") and word.lstrip("('\"") in _ABBREVIATIONS:
                continue
            sentences.append(paragraph[start:m.end()].strip())
            start = m.end()
        rest = paragraph[start:].strip()
        if rest:
            sentences.append(rest)
    return [s for s in sentences if s]


def tokenized_sentences(text):
    """`split_sentences` then `tokenize`: lists of tokens, one per sentence."""
    return [t for t in (tokenize(s) for s in split_sentences(text)) if t]
