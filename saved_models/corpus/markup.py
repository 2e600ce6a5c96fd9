"""Plain-text paragraphs out of the markup that packages ship text in.

Each function takes the text of one file and returns (or yields) paragraphs of running
text, whitespace not yet normalized; code, tables, headings and navigation are dropped
where the markup says what they are. What is left still goes through `prose.sentences`,
which drops the lines that are not prose.
"""

import html
import re
from html.parser import HTMLParser

_HTML_SKIP = {"script", "style", "pre", "table", "head", "title", "nav", "footer", "math",
              "svg", "textarea", "select", "form", "h1", "h2", "h3", "h4", "h5", "h6",
              "info", "screen", "synopsis", "programlisting"}  # the last: Mallard, DocBook
_HTML_BREAK = {"p", "div", "li", "dd", "dt", "br", "blockquote", "section", "article",
               "ul", "ol", "dl", "hr", "figure", "figcaption", "aside", "main", "body",
               "caption", "header", "item", "note", "para"}


class _HTMLText(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.paragraphs, self._current, self._skip = [], [], []

    def _flush(self):
        text = "".join(self._current).strip()
        if text:
            self.paragraphs.append(text)
        self._current = []

    def handle_starttag(self, tag, attrs):
        if tag in _HTML_SKIP:
            self._flush()
            self._skip.append(tag)
        elif tag in _HTML_BREAK:
            self._flush()

    def handle_startendtag(self, tag, attrs):
        if tag in _HTML_BREAK:
            self._flush()

    def handle_endtag(self, tag):
        if tag in self._skip:  # close the innermost open skipped element of this name
            while self._skip and self._skip.pop() != tag:
                pass
            self._current = []
        elif tag in _HTML_BREAK and not self._skip:
            self._flush()

    def handle_data(self, data):
        if not self._skip:
            self._current.append(data)


def html_paragraphs(text):
    """The text of an HTML page's block elements (`p`, `li`, `dd`, ...), without what is
    in `pre` (code), `table`, headings, `head`, `nav`, scripts and forms. Mallard and
    DocBook XML pages read the same way (`info` metadata and `screen` code dropped).

    Examples:
        >>> html_paragraphs("<h1>T</h1><p>One <code>x</code> two.</p><pre>y = 1</pre>")
        ['One x two.']
    """
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    parser._flush()
    return parser.paragraphs


_ROFF_BLOCKS = {"nf": ".fi", "EX": ".EE", "TS": ".TE", "Vb": ".Ve", "de": "..", "am": "..",
                "ig": "..", "EQ": ".EN", "PS": ".PE", "ds": None}
_ROFF_FONT = {"B", "I", "SM", "SB"}
_ROFF_ALT = {"BR", "RB", "BI", "IB", "RI", "IR"}
_ROFF_BREAK = {"PP", "P", "LP", "TP", "IP", "HP", "sp", "br", "SH", "SS", "RS", "RE", "TQ",
               "Sh", "Ss", "Pp", "It", "Bl", "El"}
_ROFF_GLYPHS = {"em": " - ", "en": "-", "lq": '"', "rq": '"', "oq": "'", "cq": "'",
                "aq": "'", "dq": '"', "hy": "-", "mi": "-", "co": "(c)", "rg": "(R)"}
_ROFF_ESCAPE = re.compile(r"""\\(?:f(?:\[[^\]]*\]|\(..|.)|\*(?:\[[^\]]*\]|\(..|.)|\((..)|
    \[([^\]]*)\]|s[-+]?\d+|[&|^%c:!)/,]|(-)|(e)|( )|.)""", re.X)


def _roff_escape(m):
    glyph = m.group(1) or m.group(2)
    if glyph is not None:
        return _ROFF_GLYPHS.get(glyph, "")
    if m.group(0).startswith("\\*"):  # pod2man's \*(L" and \*(R" are quotes
        return '"' if m.group(0)[-1] == '"' else ""
    return "-" if m.group(3) else "\\" if m.group(4) else " " if m.group(5) else ""


def roff_text(line):
    """One line of roff text without its escapes (`\\fB`, `\\(em`, `\\-`, ...).

    Examples:
        >>> roff_text(r"the \\fBls\\fP command \\(em see \\-l")
        'the ls command  -  see -l'
    """
    return _ROFF_ESCAPE.sub(_roff_escape, line)


def _macro_args(args):
    return [a if b is None else b for b, a in
            (m.groups() for m in re.finditer(r'"([^"]*)"|(\S+)', args))]


def roff_paragraphs(text):
    """The running text of a man page (man or pod2man macros): requests, comments,
    headings (`.SH`, `.SS`), the tags of `.TP`, and no-fill/example/table/verbatim blocks
    (`.nf`, `.EX`, `.TS`, `.Vb`) and macro definitions are dropped; font macros (`.B`,
    `.BR`, ...) keep their words.

    Examples:
        >>> roff_paragraphs('.SH\\nDESCRIPTION\\n.PP\\nLists\\n.B files\\nhere.\\n'
        ...                 '.nf\\ncode\\n.fi\\n')
        ['Lists files here.']
    """
    paragraphs, current, end_block, skip_next = [], [], None, False

    def flush():
        if current:
            paragraphs.append(" ".join(current))
            current.clear()

    for line in text.splitlines():
        if end_block is not None:
            if line.startswith(end_block):
                end_block = None
            continue
        if line.startswith((".", "'")):
            request = line[1:].strip().split(None, 1)
            name = request[0] if request else ""
            args = request[1] if len(request) > 1 else ""
            if name.startswith('\\"'):
                continue
            if name in _ROFF_BLOCKS:
                flush()
                end_block = _ROFF_BLOCKS[name]
            elif name in _ROFF_FONT and args and not skip_next:
                current.append(roff_text(" ".join(_macro_args(args))))
            elif name in _ROFF_ALT and args and not skip_next:
                current.append(roff_text("".join(_macro_args(args))))
            elif name in _ROFF_BREAK:
                flush()
                skip_next = name in ("TP", "TQ") or (name in ("SH", "SS") and not args)
                continue
            skip_next = False if name in _ROFF_FONT | _ROFF_ALT else skip_next
            continue
        if skip_next:
            skip_next = False
            continue
        if not line.strip():
            flush()
        else:
            current.append(roff_text(line))
    flush()
    return paragraphs


def _without_brackets(text):
    while True:  # innermost first, so nested brackets go too
        shorter = re.sub(r"\[[^\[\]]*\]", " ", text)
        if shorter == text:
            return text
        text = shorter


def dictd_paragraphs(text):
    """The definitions and quotations of a dictd database (`*.dict`, decompressed):
    entries are blank-line separated blocks whose headword lines start at the margin;
    headword lines (and their bracketed etymology running on), `[...]` labels and sources
    (`[1913 Webster]`, `[Obs.]`), `<...>` subject tags, `\\pro*nun*ci*a*tion\\`, `/ipa/`,
    `--Author.` attributions and list numbers are dropped; `{cross references}` keep
    their words.

    Examples:
        >>> dictd_paragraphs("Word \\\\Word\\\\, n. [L. x\\n   y.]\\n"
        ...                  "   1. A {thing} said. [Obs.]\\n"
        ...                  "   [1913 Webster]\\n\\n      Words are wind. --Shak.\\n")
        ['A thing said.', 'Words are wind.']
    """
    paragraphs = []
    for block in re.split(r"\n[ \t]*\n", text):
        lines, depth = [], 0
        for line in block.splitlines():
            if not line[:1].isspace() or depth > 0:  # headword and its bracketed run-on
                depth = max(0, depth + line.count("[") - line.count("]"))
                continue
            lines.append(re.sub(r"(?:^|\s)--\s?[A-Z].*$", "", line))
        body = _without_brackets(" ".join(lines))
        body = re.sub(r"\{([^{}]*)\}", r"\1", body)
        body = re.sub(r"<[^<>]*>|\\[^\\\s][^\\]*\\|(?<!\w)/[^/\s][^/]*/(?!\w)", " ", body)
        body = re.sub(r"(?:^|\s)(?:\d+|[a-z]|[ivx]+)\.\s|(?:^|\s)\([a-z0-9]\)\s", " ", body)
        body = " ".join(body.split())
        if body:
            paragraphs.append(body)
    return paragraphs


def headword_paragraphs(text):
    """The paragraphs of a dictionary in running text whose entries open with their
    headword in capitals (`ABASEMENT, n.  A decent ...`, The Devil's Dictionary):
    the headword and part of speech, `_emphasis_` marks and the dictd database's own
    `00-database-*` lines are dropped.

    Examples:
        >>> headword_paragraphs("00-database-short\\n   Title\\n\\nABATIS, n.  Rubbish in\\n"
        ...                     "front of a _fort_.\\n\\n    Verse one,\\nand two.\\n")
        ['Title', 'Rubbish in front of a fort.', 'Verse one, and two.']
    """
    paragraphs = []
    for block in re.split(r"\n[ \t]*\n", text):
        block = re.sub(r"^00-database-.*$", "", block, flags=re.M)
        block = re.sub(r"^\s*[A-Z][A-Z'\- ]*,\s+(?:[a-z]+\.\s*)+", "", block)
        block = " ".join(block.replace("_", "").split())
        if block:
            paragraphs.append(block)
    return paragraphs


def osis_text(text):
    """The words of an OSIS fragment (a SWORD module's verse): footnotes and
    cross-references (`<note>...</note>`) dropped, other tags removed.

    Examples:
        >>> osis_text('In the <w lemma="x">beginning</w><note>Or, at first</note>, God')
        'In the beginning, God'
    """
    text = re.sub(r"<note\b.*?</note>", "", text, flags=re.S)
    return html.unescape(re.sub(r"<[^>]*>", "", text))
