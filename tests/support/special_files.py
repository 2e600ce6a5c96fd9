"""Special files for the hostile-input tests, made inside a test's own temporary
directory (never the system's /dev)."""

import os
import stat

import pytest

#: Character device numbers of the kernel's memory devices: /dev/null and /dev/zero.
NULL, ZERO = (1, 3), (1, 5)


def char_device(path, numbers=NULL):
    """A character device node with `numbers` (major, minor) at `path`; the test is
    skipped where making one is not allowed (it needs root, CAP_MKNOD)."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(*numbers))
    except PermissionError:
        pytest.skip("making a device node needs root (CAP_MKNOD)")
    return path
