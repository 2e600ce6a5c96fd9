"""Which tokenized sentences are English prose, and the prose sentences of paragraphs."""

import re

from elmo_keras.text.corpus_tokenizer import tokenized_sentences

_WORD = re.compile(r"[A-Za-z][a-z]*(?:['\u2019\-][A-Za-z]+)*\Z")
_CODE = set("{}=<>$\\|#@~^*_`[]")


def is_prose(tokens, min_tokens=3, max_tokens=100, min_word_share=0.6):
    """Whether a tokenized sentence looks like English prose: `min_tokens` to
    `max_tokens` tokens, at least `min_word_share` of them words of Latin letters in
    ordinary case (`the`, `Paris`, `don't`, not `HTTP_PROXY` or `x86`), at least two
    such words, at least one word in lower case, and at most one code-like symbol
    (`{ } = < > $ \\ | # @ ~ ^ * _` and backquotes or brackets).

    Examples:
        >>> is_prose("The cat sat on the mat .".split())
        True
        >>> is_prose("x = foo ( bar ) ;".split()), is_prose("CHAPTER I".split())
        (False, False)
    """
    if not min_tokens <= len(tokens) <= max_tokens:
        return False
    words = [t for t in tokens if _WORD.match(t)]
    if len(words) < 2 or len(words) < min_word_share * len(tokens):
        return False
    if not any(w.islower() for w in words):
        return False
    return sum(1 for t in tokens for c in t if c in _CODE) <= 1


def sentences(paragraphs, **filter_args):
    """The tokenized prose sentences (`is_prose`) of an iterable of paragraphs."""
    for paragraph in paragraphs:
        for tokens in tokenized_sentences(paragraph):
            if is_prose(tokens, **filter_args):
                yield tokens
