"""The training corpus is read line by line exactly as `elmo-keras embed` reads text."""

import pytest

from elmo_keras.training.corpus import CorpusError, iter_sentences, scan_corpus


def test_lines_end_at_newline_only_and_a_byte_order_mark_is_dropped(tmp_path):
    path = tmp_path / "c.txt"
    # BOM, a CRLF line end, a bare \r and U+2028 inside lines, a blank line.
    path.write_bytes("\ufeffThe cat\r\nsat\ron\u2028it\n\nend".encode("utf-8"))
    assert list(iter_sentences([str(path)])) == [["The", "cat"], ["sat", "on", "it"], ["end"]]
    stats = scan_corpus([str(path)])
    assert (stats.n_sentences, stats.n_tokens) == (3, 6)


def test_invalid_utf8_names_the_line_and_column(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine line\nbad \xe9 line\n")
    with pytest.raises(CorpusError, match=r"bad.txt:2: not UTF-8 text \(byte 0xe9 at column 5"):
        scan_corpus([str(path)])
