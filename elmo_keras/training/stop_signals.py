"""Ctrl-C and SIGTERM as a flag: training finishes the step, checkpoints and stops;
`embed` stops between sentences (`apps.embedding_file`)."""

import contextlib
import signal


class StopSignals:
    """Turns SIGINT/SIGTERM into a flag checked between steps (a step is never cut)."""

    def __init__(self):
        self.requested = None

    @contextlib.contextmanager
    def installed(self):
        old = {}

        def handler(signum, frame):
            self.requested = signal.Signals(signum).name

        try:
            for s in (signal.SIGINT, signal.SIGTERM):
                old[s] = signal.signal(s, handler)
        except ValueError:  # not the main thread: signals stay as they are
            pass
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)
