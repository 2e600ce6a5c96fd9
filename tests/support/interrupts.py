"""Ctrl-C as it reaches a library that turns exceptions into its own."""

import signal
import threading


def sigint_inside_a_library_call():
    """Sends SIGINT to this process inside a "library call" that turns whatever is
    raised in it into its own error, as NumPy's structured-array comparison turns a
    KeyboardInterrupt into `TypeError("Cannot compare structured arrays")`. Returns if
    the handler raised nothing (one that only sets a flag)."""
    try:
        # To this thread (the main one, where Python runs handlers), so the handler
        # runs inside the loop below: `os.kill` lets the kernel pick any thread.
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)
        for _ in range(10_000):  # the handler runs between two bytecodes, in here
            pass
    except BaseException as e:
        raise TypeError("Cannot compare structured arrays") from e
