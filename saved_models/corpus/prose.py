"""Which tokenized sentences are English prose, and the prose sentences of paragraphs."""

import re

from elmo_keras.text.corpus_tokenizer import tokenized_sentences

_WORD = re.compile(r"[A-Za-z][a-z]*(?:['\u2019\-][A-Za-z]+)*\Z")
_PUNCTUATION = set(".,;:!?'\"()-\u2018\u2019\u201c\u201d\u2014\u2013\u2026")
_CODE = set("{}=<>$\\|#@~^*_`[]")


def is_prose(tokens, min_tokens=3, max_tokens=150, min_word_share=0.6):
    """Whether a tokenized sentence looks like English prose: `min_tokens` to
    `max_tokens` tokens; of the tokens that are not punctuation, at least
    `min_word_share` words of Latin letters in ordinary case (`the`, `Paris`, `don't`,
    not `HTTP_PROXY`, `x86` or `0x1f`); at least two such words, and at least one in
    lower case; words at least a third of all tokens; no code-like symbol (`{ } = < >
    $ \\ | # @ ~ ^ * _`, backquotes, square brackets) in a sentence of fewer than 10
    tokens, at most one in a longer one.

    Examples:
        >>> is_prose("The cat sat on the mat .".split())
        True
        >>> is_prose('" Yes , sir , " said Jane to her aunt , " shall we ? "'.split())
        True
        >>> is_prose("x = foo ( bar ) ;".split()), is_prose("CHAPTER I".split())
        (False, False)
    """
    if not min_tokens <= len(tokens) <= max_tokens:
        return False
    words = [t for t in tokens if _WORD.match(t)]
    others = sum(1 for t in tokens if not all(c in _PUNCTUATION for c in t))
    if len(words) < 2 or len(words) < min_word_share * others or 3 * len(words) < len(tokens):
        return False
    if not any(w.islower() for w in words):
        return False
    return sum(1 for t in tokens for c in t if c in _CODE) <= (len(tokens) >= 10)


def sentences(paragraphs, **filter_args):
    """The tokenized prose sentences (`is_prose`) of an iterable of paragraphs."""
    for paragraph in paragraphs:
        for tokens in tokenized_sentences(paragraph):
            if is_prose(tokens, **filter_args):
                yield tokens
