"""Text files read byte-exactly, one line per `\\n`, checked before any work.

Line `i` of a file is what lies between its `i`-th and `(i + 1)`-th `\\n` byte, so line
numbers (and the dataset names of `elmo-keras embed`) never shift:

- only `\\n` ends a line; a `\\r\\n` pair is one line end; a bare `\\r` stays inside
  its line (at the end of the file too), as do the other characters that Python's
  universal newlines or `str.splitlines` take as line breaks (`\\x0b`, `\\x0c`,
  `\\x1c`-`\\x1e`, `\\x85`, U+2028, U+2029);
- a UTF-8 byte order mark at the start of the file is dropped (and reported by
  `scan_text`), it never sticks to the first token;
- the text must be UTF-8: an invalid byte is reported with its line and column.
"""

import dataclasses
import hashlib

BOM = b"\xef\xbb\xbf"


class TextFileError(ValueError):
    """A text file is not UTF-8 (the message names the line and column)."""


def _decode(raw, path, number):
    if raw.endswith(b"\n"):
        raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TextFileError(
            f"{path}:{number}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column "
            f"{e.start + 1} of the line: {e.reason}); convert the file to UTF-8, e.g. "
            "iconv -f latin1 -t utf-8") from None


def iter_lines(path):
    """The lines of a UTF-8 text file, without their line ends, in file order.

    Args:
        path: the file.

    Yields:
        `str`, one per line (see the module docstring for what a line is).

    Raises:
        TextFileError: a line is not UTF-8 (met only when that line is reached; call
            `scan_text` first to check the whole file before any work).

    Example:
    >>> # b"\\xef\\xbb\\xbfa b\\r\\nc\\rd\\n" -> ["a b", "c\\rd"]
    """
    with open(path, "rb") as f:
        yield from read_lines(f, path)


def read_lines(f, name):
    """`iter_lines` for a file already open in binary mode (e.g. one of Apache Beam's
    `FileSystems`, on a bucket); `name` is the file's name in error messages."""
    for number, raw in enumerate(iter(f.readline, b""), 1):
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM):]
        yield _decode(raw, name, number)


@dataclasses.dataclass(frozen=True)
class TextScan:
    """What `scan_text` found: the number of lines, the sha256 of the file's bytes,
    its size and whether it starts with a byte order mark."""

    n_lines: int
    sha256: str
    n_bytes: int
    bom: bool


def scan_text(path):
    """Reads a text file once: checks that every line is UTF-8, counts the lines and
    hashes the content.

    Args:
        path: the file.

    Returns:
        `TextScan`.

    Raises:
        TextFileError: a line is not UTF-8 (the message names it).
    """
    digest = hashlib.sha256()
    n_lines = n_bytes = 0
    bom = False
    with open(path, "rb") as f:
        for n_lines, raw in enumerate(f, 1):
            digest.update(raw)
            n_bytes += len(raw)
            if n_lines == 1 and raw.startswith(BOM):
                bom = True
                raw = raw[len(BOM):]
            _decode(raw, path, n_lines)
    return TextScan(n_lines, digest.hexdigest(), n_bytes, bom)
