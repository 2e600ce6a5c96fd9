"""`prefetch.Prefetched`: the batches of a run, built ahead on a thread."""

import threading

import pytest

from elmo_keras.training.corpus import CorpusError
from elmo_keras.training.prefetch import Prefetched


def test_same_items_in_the_same_order():
    assert list(Prefetched(iter(range(50)), depth=3)) == list(range(50))
    assert list(Prefetched(iter([]))) == []


def test_an_error_of_the_source_is_raised_where_the_stream_reaches_it():
    def source():
        yield 1
        yield 2
        raise CorpusError("corpus.txt: unreadable")

    it = Prefetched(source())
    assert next(it) == 1 and next(it) == 2
    with pytest.raises(CorpusError, match="corpus.txt"):
        next(it)
    with pytest.raises(StopIteration):
        next(it)


def test_close_stops_the_thread_of_an_endless_stream():
    def endless():
        n = 0
        while True:
            n += 1
            yield n

    it = Prefetched(endless(), depth=2)
    assert next(it) == 1
    it.close()
    assert not any(t.name == "elmo-batches" and t.is_alive() for t in threading.enumerate())
    with pytest.raises(StopIteration):
        next(it)


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth"):
        Prefetched(iter([]), depth=0)
