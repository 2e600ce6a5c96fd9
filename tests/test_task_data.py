"""The readers of elmo_keras/datasets/task_data.py on small archives made here (the real data is
fetched from package registries and never shipped)."""

import io
import tarfile

from elmo_keras.datasets import task_data


def test_parse_ratings_drops_neutral_and_tokenizes():
    text = "1\t2.5\tA fine, moving film.\r\n2\t-0.3\tMeh\r\n3\t-1.2\tDull and long\r\nbad line\n"
    assert task_data.parse_ratings(text) == [
        (1, 2.5, ["A", "fine", ",", "moving", "film", "."]), (3, -1.2, ["Dull", "and", "long"])]


def test_split_of_is_a_fixed_function_of_the_id():
    assert [task_data.split_of(i) for i in range(12)] == (
        ["test", "dev"] + ["train"] * 8 + ["test", "dev"])


def test_parse_faq_takes_questions_and_their_prose():
    text = """Programming FAQ
===============

Is there a debugger?
--------------------

Yes. See :func:`breakpoint` and `pdb <https://x>`_.

.. note:: skipped

   >>> print(1)

Not a question
--------------

Text.

How do I exit?
--------------
Call ``sys.exit()``.
"""
    assert task_data.parse_faq(text) == [
        ("Is there a debugger ?", "Yes . See breakpoint and pdb ."),
        ("How do I exit ?", "Call sys . exit ( ) .")]


def test_deb_data_reads_the_data_member(tmp_path):
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w:xz") as tar:
        data = b"hello"
        info = tarfile.TarInfo("usr/share/x.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    members = [("debian-binary", b"2.0\n"), ("data.tar.xz", payload.getvalue())]
    out = b"!<arch>\n"
    for name, body in members:
        out += f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}`\n".encode()
        out += body + (b"\n" if len(body) % 2 else b"")
    (tmp_path / "p.deb").write_bytes(out)
    with task_data._deb_data(tmp_path / "p.deb") as tar:
        assert tar.extractfile("usr/share/x.txt").read() == b"hello"
