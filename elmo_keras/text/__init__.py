"""Strings to tokens to character ids: NumPy char ids, in-graph TF string ops, the corpus tokenizer."""
