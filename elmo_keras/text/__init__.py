"""Strings to tokens to character ids, one implementation (`inputs.to_char_ids`) that
every caller uses: NumPy char ids (`char_ids`), the same in the TensorFlow graph
(`tf_text_ops`), the corpus tokenizer (`corpus_tokenizer`)."""
