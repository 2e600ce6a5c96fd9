"""The readers and cleaners of saved_models/build_corpus.py on small inputs made here
(the real packages are fetched from the registries and never shipped)."""

import doctest
import io
import json
import shutil
import struct
import sys
import tarfile
import zlib

import pytest

from tests.conftest import FIXTURES
from tests.support.processes import run

sys.path.insert(0, str(FIXTURES.parent.parent / "saved_models"))
import build_corpus  # noqa: E402
from corpus import markup, packages, prose, sources  # noqa: E402


def test_docstring_examples():
    for module in (markup, prose, sources, build_corpus):
        assert doctest.testmod(module).failed == 0, module.__name__


def test_html_keeps_block_text_and_drops_code_tables_headings_and_navigation():
    page = """<html><head><title>T</title><style>p {}</style></head><body>
    <nav><a href="x">Next topic</a></nav><h1>Heading<a>&para;</a></h1>
    <p>Call <code>git commit</code> to record &amp; keep
    changes.</p><pre>$ git commit -m "x"</pre>
    <table><tr><td>cell text</td></tr></table><ul><li>An item.<li>Another item.</ul>
    <div class="highlight"><pre><span>x = 1</span></pre></div><p>After.</p></body></html>"""
    assert markup.html_paragraphs(page) == [
        "Call git commit to record & keep\n    changes.", "An item.", "Another item.",
        "After."]


def test_roff_drops_requests_tags_and_no_fill_blocks():
    page = r""".\" comment
.TH LS 1
.de Vb
.ft CW
..
.SH DESCRIPTION
.B ls
lists \fIfiles\fP \(em see
.BR stat (2).
.TP
.B \-a
Do not ignore entries starting with \(lq.\(rq.
.nf
ls \-la /tmp
.fi
.Vb 1
\&    code here
.Ve
.SS "Exit status"
Returns 0.
"""
    assert markup.roff_paragraphs(page) == [
        "ls lists files  -  see stat(2).",
        'Do not ignore entries starting with ".".', "Returns 0."]


def test_dictd_keeps_definitions_and_quotations_only():
    gcide = """Affect \\Af*fect"\\, v. t. [imp. & p. p. {Affected}; p. pr. & vb.
   n. {Affecting}.] [L. affectus, p. p. of afficere. See {Fact}.]
   1. To act upon; to produce an effect upon. [Obs.]
      [1913 Webster]

            The climate affected their health and spirits.
                                                  --Macaulay.
      [1913 Webster]

AI koan

   <humour> /A-I koh'an/ One of a series of {Zen} riddles.
"""
    assert markup.dictd_paragraphs(gcide) == [
        "To act upon; to produce an effect upon.",
        "The climate affected their health and spirits.", "One of a series of Zen riddles."]


def test_headword_dictionary_keeps_running_text():
    text = ("00-database-short\n     The Devil's Dictionary\n\nABATIS, n.  Rubbish in front\n"
            "of a _fort_.\n\n    Poor Isabella's Dead, whose abdication\n"
            "    Set all tongues wagging.\n")
    assert markup.headword_paragraphs(text) == [
        "The Devil's Dictionary", "Rubbish in front of a fort.",
        "Poor Isabella's Dead, whose abdication Set all tongues wagging."]


def test_osis_drops_notes_and_tags():
    assert markup.osis_text('<q who="x">Let there be light,</q><note n="a">Or, '
                            'shine</note> &amp; there was') == "Let there be light, & there was"


@pytest.mark.parametrize("sentence, expected", [
    ("The cat sat on the mat .", True),
    ("Use the -- all flag to list everything .", True),
    ("It is .", True),
    ("x = foo ( bar ) ;", False),           # code
    ("CHAPTER I", False),                   # heading, no lower-case word
    ("0x10 0x20 0x30 , 12 34 56", False),  # numbers
    ("Yes .", False),                       # too short
    ("a " * 151, False),                    # too long
    ('" Yes , sir , " said Jane to her aunt , " shall we ? "', True),  # dialogue
    ("- - - - said - - - - - - he", False),  # mostly dashes
    ("set $ HOME and $ PATH here", False),  # two code-like symbols
])
def test_is_prose(sentence, expected):
    assert prose.is_prose(sentence.split()) is expected


def test_wordnet_gloss_is_split_into_definition_and_examples():
    line = ('00596290 04 n 01 precentorship 0 002 @ 00586262 n 0000 | the position of '
            'precentor; "he held the precentorship"; "long held"  \n')
    assert sources.wordnet_gloss_parts(line) == [
        "the position of precentor", "he held the precentorship", "long held"]
    assert sources.wordnet_gloss_parts("  1 This software and database is ...\n") == []


def test_sword_ztext_verses_reads_blocks_through_the_verse_index():
    raw = b"In the beginning.And God said."
    block = zlib.compress(raw)
    bzs = struct.pack("<III", 0, len(block), len(raw))
    bzv = struct.pack("<IIH", 0, 0, 0) + struct.pack("<IIH", 0, 0, 17) + struct.pack(
        "<IIH", 0, 17, 13)
    assert list(sources.sword_ztext_verses(bzs, block, bzv)) == [
        "In the beginning.", "And God said."]


def _r_character_vector(strings):
    blob = b"X\n" + struct.pack(">iiii", 3, 0x040201, 0x030500, 5) + b"UTF-8"
    blob += struct.pack(">ii", 16, len(strings))
    for s in strings:
        data = b"" if s is None else s.encode()
        blob += struct.pack(">ii", 0x00040009, -1 if s is None else len(data)) + data
    return struct.pack(">i", len(blob)) + zlib.compress(blob)


def test_r_character_vectors_of_a_lazy_load_database():
    rdb = _r_character_vector(["EMMA", "", "Emma Woodhouse, handsome"]) + \
        _r_character_vector(["Sir Walter", None])
    assert sources.r_character_vectors(rdb) == [
        ["EMMA", "", "Emma Woodhouse, handsome"], ["Sir Walter", None]]


def test_decode_reads_lines_that_are_not_utf8_as_windows_1252():
    assert sources.decode("caf\u00e9\n".encode() + b"it\x92s") == "caf\u00e9\nit\u2019s"


def test_npm_text_files_drop_verse_numbers_and_emphasis_marks():
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w:gz") as tar:
        for name, text in [("package/gutenberg/bible.txt",
                            "1:1 In the beginning _God_ created\nthe heaven.\n"),
                           ("package/other/skip.txt", "Not this one here.")]:
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    payload.seek(0)
    with tarfile.open(fileobj=payload) as tar:
        assert list(sources.npm_text_files("gutenberg")(tar)) == [
            "In the beginning God created the heaven .".split()]


def test_fortune_cookies_drop_attributions_and_overstrike():
    text = "Be nice to\n\tpeople.\n%\nA  _\bbold  step.\n\t\t-- Anon\n%\n"
    assert sources.fortune_cookies(text) == ["Be nice to people.", "A bold step."]


def test_token_cap_bounds_every_share():
    sizes = [1000, 300, 200, 100, 50]
    cap = build_corpus.token_cap(sizes, 0.3)
    kept = [min(n, cap) for n in sizes]
    assert max(kept) <= 0.3 * sum(kept) + 1e-6
    assert kept[0] == kept[1] == 262.5 and kept[2:] == sizes[2:]
    assert max(kept) == pytest.approx(0.3 * sum(kept))
    assert build_corpus.token_cap([10, 10, 10, 10], 0.3) == 10  # nothing to cap
    with pytest.raises(SystemExit, match="too small"):
        build_corpus.token_cap([10, 1], 0.3)


def test_evenly_spaced_keeps_the_fraction_spread_out():
    assert build_corpus.evenly_spaced(list(range(10)), 0.5) == [1, 3, 5, 7, 9]
    assert build_corpus.evenly_spaced(list(range(4)), 1.5) == [0, 1, 2, 3]


def test_fetch_deb_refuses_a_wrong_sha256(tmp_path):
    (tmp_path / "pkg_1%3a2.0_all.deb").write_bytes(b"not this")
    path = str(tmp_path / "pkg_1%3a2.0_all.deb")
    assert packages.fetch_deb("pkg", "1:2.0", packages.sha256_of(path), str(tmp_path)) == path
    with pytest.raises(SystemExit, match="sha256"):
        packages.fetch_deb("pkg", "1:2.0", "0" * 64, str(tmp_path))


def _deb(tmp_path, name, files):
    root = tmp_path / f"{name}-root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@t>\n"
        "Description: test\n")
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    cache = tmp_path / "cache"
    cache.mkdir(exist_ok=True)
    deb = cache / f"{name}_1.0_all.deb"
    run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, deb])
    return ("apt", name, "1.0", packages.sha256_of(str(deb)), "test")


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_build_dedups_caps_holds_out_and_splits(tmp_path, monkeypatch):
    page = "".join(f"<p>Doc line {i} says hello.</p>" for i in list(range(200)) * 2)
    page += "<p>Sentence number one is here.</p>"
    page += "<p>The fortune is here today.</p><pre>code = 1</pre>"
    big = [f"Sentence number {i} is a word in a row." for i in range(1000)]
    specs = {
        "docs": _deb(tmp_path, "docs", {"usr/share/doc/docs/a.html": page}),
        "big": _deb(tmp_path, "big", {"usr/share/doc/big/b.html": "".join(
            f"<p>{s}</p>" for s in big + ["Sentence number one is here."])}),
        "small": _deb(tmp_path, "small", {"usr/share/doc/small/c.html":
                                          "<p>A small source of text lives here.</p>"}),
    }
    monkeypatch.setattr(build_corpus, "SOURCES", {
        name: spec + (sources.html_pages([f"usr/share/doc/{name}/*.html"]),)
        for name, spec in specs.items()})
    fortunes = _deb(tmp_path, "fortunes", {"usr/share/games/fortunes/f":
                                           "The fortune is here today.\n%\nLove is blind.\n%\n"})
    monkeypatch.setattr(build_corpus, "HELDOUT", {"fortunes": [fortunes + (sources.fortunes,)]})
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["build_corpus.py", "--out", str(out), "--cache",
                                      str(tmp_path / "cache"), "--max-share", "0.5"])
    build_corpus.main()

    assert (out / "heldout" / "fortunes.txt").read_text() == (
        "The fortune is here today .\nLove is blind .\n")
    counts = json.loads((out / "counts.json").read_text())
    docs = (out / "train" / "docs.txt").read_text().splitlines()
    assert len(docs) == len(set(docs)) == 201 - 4  # deduped; 4 in valid/test; no fortune
    assert "Sentence number one is here ." in docs
    assert counts["sources"]["big"]["read"]["sentences"] == 1000  # "one" kept in docs only
    shares = [c["share"] for c in counts["sources"].values()]
    assert max(shares) <= 0.5 + 1e-6 and abs(sum(shares) - 1) < 1e-9
    big_kept = counts["sources"]["big"]
    assert big_kept["kept_fraction"] < 1
    assert big_kept["valid"]["sentences"] >= 1 and big_kept["test"]["sentences"] >= 1
    valid = (out / "valid.txt").read_text().splitlines()
    train_big = set((out / "train" / "big.txt").read_text().splitlines())
    assert valid and not set(valid) & train_big
    total = sum(c[s]["tokens"] for c in counts["sources"].values()
                for s in ("train", "valid", "test"))
    assert total == sum(counts[s]["tokens"] for s in ("train", "valid", "test"))
    table = build_corpus.composition_table(counts).splitlines()
    assert len(table) == 2 + 3 + 1 and table[-1].startswith(f"| **all** | | **{total:,}**")
