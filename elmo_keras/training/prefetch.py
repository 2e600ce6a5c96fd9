"""Batches built ahead on a background thread, while the device runs the step.

The JAX and PyTorch steps take NumPy batches from `corpus.training_batches`, whose
rows are filled in Python. Built in line, the accelerator waits for each batch and the
host waits for each step; built on a thread, the two overlap (the step's wait for its
loss releases the GIL). The batches come in the stream's order, so a run's batches,
checkpoints and resume are unchanged.
"""

import queue
import threading

_END = object()


class Prefetched:
    """Iterates `batches` (an iterator) `depth` items ahead on a daemon thread.

    An exception of the source (a `CorpusError`, say) is raised by the `next` that
    reaches it, in the caller's thread. `close()` stops the thread; the batches it had
    built are dropped.
    """

    def __init__(self, batches, depth=2):
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self._source = batches
        self._queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._fill, name="elmo-batches", daemon=True)
        self._thread.start()

    def _put(self, item):
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _fill(self):
        try:
            for batch in self._source:
                if not self._put((batch, None)):
                    return
        except BaseException as e:  # handed to the consumer, raised there
            self._put((_END, e))
            return
        self._put((_END, None))

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        batch, error = self._queue.get()
        if batch is _END:
            self._done = True
            if error is not None:
                raise error
            raise StopIteration
        return batch

    def close(self):
        """Stops the thread (it finishes the batch in hand) and drops what it built."""
        self._stop.set()
        self._done = True
        self._thread.join()
