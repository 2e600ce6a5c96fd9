"""Vocabulary files: built from a corpus by the command line, read and validated."""

import pytest

from elmo_keras.apps.cli import main
from elmo_keras.training.vocabulary import Vocabulary, VocabularyError, count_tokens
from tests.support.training import TRAIN, VALID, vocab_file  # noqa: F401


def test_vocab_file_format(tmp_path, vocab_file):
    vocab = Vocabulary.load(vocab_file)
    assert vocab.tokens[:3] == ["<S>", "</S>", "<UNK>"]
    counts = count_tokens(open(TRAIN, encoding="utf-8"))
    freq = [counts[t] for t in vocab.tokens[3:]]
    assert freq == sorted(freq, reverse=True) and min(freq) >= 2
    assert vocab.tokens[3] == max(counts, key=counts.get)
    path = tmp_path / "small.txt"
    assert main(["vocab", TRAIN, VALID, str(path), "--max-size", "10"]) == 0
    assert len(Vocabulary.load(path)) == 10


def test_vocabulary_errors(tmp_path):
    bad = tmp_path / "v.txt"
    bad.write_text("the\n.\n<UNK>\n")
    with pytest.raises(VocabularyError, match=r"v\.txt: missing the special token\(s\) <S>, </S>"):
        Vocabulary.load(bad)
    bad.write_text("<S>\n</S>\n<UNK>\nthe\nthe\n")
    with pytest.raises(VocabularyError, match="'the' appears twice"):
        Vocabulary.load(bad)
    with pytest.raises(VocabularyError, match="does not exist"):
        Vocabulary.load(tmp_path / "nope.txt")



def test_a_byte_order_mark_is_dropped_not_read_as_part_of_the_first_token(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf<S>\n</S>\n<UNK>\na\n")  # as Windows editors save it
    assert Vocabulary.load(path).tokens == ["<S>", "</S>", "<UNK>", "a"]
