"""Fuzz tests (seeded) for the text readers and `batch_to_ids`: random bytes, every
unicode category, control characters, very long tokens and lines. Nothing crashes, bad
input gets its documented error, and there is always one output per line."""

import random
import sys
import unicodedata

import numpy as np
import pytest

from elmo_keras.io.text_lines import BOM, TextFileError, iter_lines, scan_text
from elmo_keras.text.char_ids import PAD_CHAR, batch_to_ids, check_char_ids

SEED = 20261129
ROUNDS = 300

# One character of each unicode general category that has assigned characters, plus the
# characters some readers take as line breaks and every C0/C1 control.
_BY_CATEGORY = {}
for _cp in range(0x30000):
    _BY_CATEGORY.setdefault(unicodedata.category(chr(_cp)), []).append(chr(_cp))
SPECIAL = ["\r", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028",
           "\u2029", "\ufeff", "\x00", "\t", " ", "\u00a0", "\u3000"]
CONTROLS = [chr(i) for i in range(0x20)] + [chr(i) for i in range(0x7f, 0xa0)]


def _random_text(rng):
    parts = []
    for _ in range(rng.randrange(0, 40)):
        r = rng.random()
        if r < 0.3:
            parts.append(rng.choice(SPECIAL + CONTROLS))
        elif r < 0.85:
            category = rng.choice(sorted(_BY_CATEGORY))
            parts.append("".join(rng.choice(_BY_CATEGORY[category])
                                 for _ in range(rng.randrange(1, 6))))
        elif r < 0.95:
            parts.append(rng.choice("ab漢😀é") * rng.randrange(100, 5000))  # long token
        else:
            parts.append(" ".join(["w"] * rng.randrange(500, 3000)))  # long line
    return "".join(parts)


def _random_bytes(rng):
    kind = rng.random()
    if kind < 0.4:  # arbitrary bytes, newline-rich
        return bytes(rng.choice([10, 13, 0xef, 0xbb, 0xbf, 0x80, 0xff, 0xc3, 0xa9, 32, 97])
                     if rng.random() < 0.5 else rng.randrange(256)
                     for _ in range(rng.randrange(0, 300)))
    text = _random_text(rng)
    data = text.encode("utf-8", "surrogatepass")  # lone surrogates: invalid UTF-8
    if kind < 0.6:
        data = BOM + data
    return data


def _expected_lines(data):
    """The lines of `data` by the reader's rule, written independently: split on b"\\n",
    one \\r dropped before each \\n, the BOM dropped; None where a line is not UTF-8."""
    if not data:
        return []
    raw = data.split(b"\n")
    if data.endswith(b"\n"):
        raw = raw[:-1]
    if raw and raw[0].startswith(BOM):
        raw[0] = raw[0][3:]
    out = []
    for i, line in enumerate(raw):
        if (i < len(raw) - 1 or data.endswith(b"\n")) and line.endswith(b"\r"):
            line = line[:-1]
        try:
            out.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(None)
    return out


def test_text_reader_fuzz(tmp_path):
    rng = random.Random(SEED)
    path = tmp_path / "f.txt"
    for _ in range(ROUNDS):
        data = _random_bytes(rng)
        path.write_bytes(data)
        expected = _expected_lines(data)
        bad = [i for i, line in enumerate(expected, 1) if line is None]
        if bad:
            with pytest.raises(TextFileError, match=rf"f\.txt:{bad[0]}: not UTF-8"):
                scan_text(path)
            with pytest.raises(TextFileError, match=rf"f\.txt:{bad[0]}: not UTF-8"):
                list(iter_lines(path))
            continue
        scan = scan_text(path)
        lines = list(iter_lines(path))
        assert lines == expected
        assert scan.n_lines == len(lines) == data.count(b"\n") + (
            0 if not data or data.endswith(b"\n") else 1)
        assert scan.bom == data.startswith(BOM)
        assert not any("\n" in line for line in lines)
        # one output per line through the embedding path (split, then char ids)
        ids = batch_to_ids([line.split() for line in lines])
        assert ids.shape[0] == len(lines)


def test_bare_cr_and_crlf_and_bom(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(BOM + "first a\r\nsecond\rstill second\nthird\x85\u2028\x0bx\nlast\r"
                     .encode())
    assert list(iter_lines(path)) == ["first a", "second\rstill second",
                                      "third\x85\u2028\x0bx", "last\r"]
    scan = scan_text(path)
    assert scan.n_lines == 4 and scan.bom


def test_invalid_utf8_names_line_and_column(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok\n" * 14 + b"caf\xe9 au lait\n" + b"ok\n")
    with pytest.raises(TextFileError, match=r"bad\.txt:15: not UTF-8 text \(byte 0xe9 at "
                                            r"column 4"):
        scan_text(path)


def _random_token(rng):
    r = rng.random()
    if r < 0.05:
        return "<S>" if rng.random() < 0.5 else "</S>"
    if r < 0.1:
        return rng.choice("ab漢😀") * rng.randrange(50, 20000)
    if r < 0.15:
        return chr(rng.randrange(0xd800, 0xe000))  # a lone surrogate: no UTF-8 bytes
    return _random_text(rng)[:rng.randrange(1, 30)] or "x"


def test_batch_to_ids_fuzz():
    rng = random.Random(SEED + 1)
    for _ in range(ROUNDS):
        sentences = [[_random_token(rng) for _ in range(rng.randrange(0, 8))]
                     for _ in range(rng.randrange(0, 6))]
        c = rng.choice([3, 4, 50, 60])
        boundaries = rng.random() < 0.3
        ids = batch_to_ids(sentences, c, add_boundaries=boundaries)
        assert ids.shape[0] == len(sentences) and ids.dtype == np.int32
        assert ids.min(initial=0) >= 0 and ids.max(initial=0) <= PAD_CHAR + 1
        check_char_ids(ids, c)
        for b, s in enumerate(sentences):
            real = int((ids[b, :, 0] > 0).sum())
            assert real == len(s) + 2 * boundaries


@pytest.mark.parametrize("bad, message", [
    ([["a", None]], r"sentence 0, token 1: expected a str, got NoneType"),
    ([["a"], ["b", 3]], r"sentence 1, token 1: expected a str, got int"),
    ([["a"], [b"x"]], r"sentence 1, token 0: expected a str, got bytes"),
    ([["a"], None], r"sentence 1 is a NoneType"),
    ([["a"], "b c"], r"sentence 1 is a str"),
    ([["a"], 7], r"sentence 1 is a int"),
    ("a b", r"expects a list of token lists, got a str"),
    (None, r"expects a list of token lists, got a NoneType"),
    ([[np.float32(1.0)]], r"sentence 0, token 0: expected a str, got float32"),
])
def test_batch_to_ids_bad_tokens_are_named(bad, message):
    with pytest.raises(TypeError, match=message):
        batch_to_ids(bad)


def test_check_char_ids_rejects_out_of_range_and_bad_shapes():
    ids = batch_to_ids([["Hello", "world"], ["Hi"]])
    assert check_char_ids(ids) is not None
    for value, where in ((-1, (1, 0, 2)), (262, (0, 1, 0)), (-300, (0, 0, 49))):
        bad = ids.copy()
        bad[where] = value
        with pytest.raises(ValueError, match=rf"character id {value} at "
                                             rf"\[{where[0]}, {where[1]}, {where[2]}\]"):
            check_char_ids(bad)
    with pytest.raises(ValueError, match=r"shape \[batch, time, 50\], got \[2, 50\]"):
        check_char_ids(ids[:, 0])
    with pytest.raises(ValueError, match="must be integers"):
        check_char_ids(ids.astype(np.float32))
    with pytest.raises(ValueError, match="max_characters_per_token must be >= 3"):
        batch_to_ids([["a"]], 2)


def test_the_model_refuses_out_of_range_ids(tiny_dir):
    from elmo_keras import load_bilm

    model = load_bilm(tiny_dir / "options.json", tiny_dir / "lm_weights.hdf5")
    ids = batch_to_ids([["Hello", "world"], ["Hi"]])
    model(ids)  # valid ids pass
    bad = ids.copy()
    bad[1, 0, 2] = -1  # would otherwise be masked as padding, silently
    for run in (model, model.predict):
        with pytest.raises(ValueError, match=r"character id -1 at \[1, 0, 2\]"):
            run(bad)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
