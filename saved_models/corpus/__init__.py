"""Readers and cleaners for `saved_models/build_corpus.py`: package fetching with pinned
sha256 (`packages`), markup removal (`markup`), the prose filter (`prose`), and one reader
per source (`sources`)."""
