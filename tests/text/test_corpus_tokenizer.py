"""The corpus tokenizer and sentence splitter."""

from elmo_keras.text.corpus_tokenizer import split_sentences, tokenize, tokenized_sentences


def test_tokenize_splits_punctuation_and_keeps_word_inner_marks():
    assert tokenize("'Oh dear!' said Alice's sister, (don't) 3.14 1,000 daisy-chain...") == [
        "'", "Oh", "dear", "!", "'", "said", "Alice's", "sister", ",", "(", "don't", ")",
        "3.14", "1,000", "daisy-chain", ".", ".", "."]
    assert tokenize("naïve café — 東京") == ["naïve", "café", "—", "東京"]


def test_split_sentences_on_end_marks_paragraphs_and_abbreviations():
    text = ("Mr. Smith went to Washington. He said \"Hello!\" Then he left?\n"
            "Yes, he did.\n\nA new paragraph\nwithout an end mark")
    assert split_sentences(text) == [
        "Mr. Smith went to Washington.", 'He said "Hello!"', "Then he left?",
        "Yes, he did.", "A new paragraph without an end mark"]
    assert split_sentences("It costs 3.5 dollars. ok. Fine") == [
        "It costs 3.5 dollars. ok.", "Fine"]  # a lower-case start does not split


def test_tokenized_sentences_drop_empty_ones():
    assert tokenized_sentences("\n\n  \nOne. Two.") == [["One", "."], ["Two", "."]]
