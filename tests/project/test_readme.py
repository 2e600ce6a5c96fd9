"""The README's two commands stay true (CI runs exactly the README's test command), the
README stays a landing page, and the README and docs link and name only what exists."""

import configparser
import re

import pytest

from tests.conftest import ROOT


def _readme_commands():
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_ci_runs_the_readme_test_command():
    commands = _readme_commands()
    assert len(commands) >= 2
    assert "pytest" in commands[1]
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert commands[1] in ci_lines


def test_readme_main_command_runs_what_the_project_has():
    """Each step of the first command is something this checkout has: the paths it
    names (other than the virtual environment it makes), the package it installs, and
    the program it runs, a console script of setup.cfg whose subcommand and flags the
    command line accepts."""
    steps = [step.strip() for step in _readme_commands()[0].split("&&")]
    made = re.search(r"-m venv (\S+)", steps[0]).group(1)
    for path in re.findall(r"(?<![\w./-])(\.?[\w-]+(?:/[\w.-]+)+)", " ".join(steps)):
        assert path.startswith(made + "/") or (ROOT / path).exists(), path
    installs = [step.split()[2:] for step in steps if step.startswith("pip install")]
    assert installs and all(target[-1] == "." for target in installs), installs
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    scripts = dict(line.replace(" ", "").split("=") for line in
                   config["options.entry_points"]["console_scripts"].strip().splitlines())
    program, *args = steps[-1].split()
    assert program in scripts, (program, scripts)
    module = scripts[program].split(":")[0]
    assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), module
    from elmo_keras.apps.cli import build_parser

    try:
        parsed = build_parser().parse_args(args)
    except SystemExit as e:  # argparse's way of refusing
        raise AssertionError(f"the command line refuses {args}") from e
    assert callable(parsed.func)


def test_readme_main_command_is_the_demo_on_the_shipped_model():
    assert _readme_commands()[0].endswith("pip install -e . && elmo-keras demo")
    model = ROOT / "elmo_keras" / "models" / "elmo" / "presets" / "elmo_small_en"
    for name in ("options.json", "weights.hdf5", "vocab.txt", "MODEL_CARD.md",
                 "metadata.json", "tokenizer.json", "test_sample.txt"):
        assert (model / name).is_file(), name


# The README is a landing page; the rest lives in docs/ and CONTRIBUTING.md. These
# files name the tests and scripts behind their claims: the names must stay true.
DOCS = ["README.md", "CONTRIBUTING.md", "benchmarks/README.md",
        *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
# Repository paths named in backticks: checked when they start with one of these.
TOP = ("elmo_keras/", "tests/", "benchmarks/", "examples/", "notebooks/", "saved_models/",
       "docs/", ".ci/")
MADE_BY_SCRIPTS = {"benchmarks/.bilm-venv"}  # created by the benchmark scripts


def _prose(text):
    """The text outside fenced code blocks."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def _anchors(path):
    """GitHub's heading anchors of a markdown file (duplicates get -1, -2, ...)."""
    seen, anchors = {}, set()
    for heading in re.findall(r"^#+ (.+)$", _prose(path.read_text()), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def test_readme_is_a_landing_page():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines: move detail to docs/"
    first_screen = "\n".join(lines[:40])
    assert 'from_preset("elmo_allennlp_original_en")' in first_screen
    index = (ROOT / "docs" / "README.md").read_text()
    for page in (ROOT / "docs").glob("*.md"):
        assert page.name == "README.md" or f"({page.name})" in index, page.name


@pytest.mark.parametrize("doc", DOCS)
def test_doc_links_resolve(doc):
    path = ROOT / doc
    for target in re.findall(r"\]\(([^)\s]+)\)", _prose(path.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.exists(), f"{doc}: link to a missing file: {target}"
        if anchor:
            assert anchor in _anchors(linked), f"{doc}: no heading for #{anchor} in {file}"


@pytest.mark.parametrize("doc", DOCS)
def test_doc_paths_exist(doc):
    for span in re.findall(r"`([^`\n]+)`", _prose((ROOT / doc).read_text())):
        for word in span.split():
            name, _, function = word.rstrip(".,;:)").partition("::")
            if not name.startswith(TOP) or name.rstrip("/") in MADE_BY_SCRIPTS:
                continue
            assert any(ROOT.glob(name.rstrip("/"))), f"{doc} names a missing path: {name}"
            if function:
                assert f"def {function}(" in (ROOT / name).read_text(), f"{doc}: {word}"
