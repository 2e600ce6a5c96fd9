"""The README's two commands stay true: CI runs exactly the README's test command."""

import re

from tests.conftest import ROOT


def _readme_commands():
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_ci_runs_the_readme_test_command():
    commands = _readme_commands()
    assert len(commands) >= 2
    assert "pytest" in commands[1]
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert commands[1] in ci_lines


def test_readme_main_command_files_exist():
    main = _readme_commands()[0]
    for path in re.findall(r"(?:examples|tests)/\S+", main):
        assert (ROOT / path).is_file(), path


def test_readme_main_command_is_the_demo_on_the_shipped_model():
    assert _readme_commands()[0].endswith("pip install -e . && elmo-keras demo")
    model = ROOT / "elmo_keras" / "models" / "elmo" / "presets" / "elmo_small_en"
    for name in ("options.json", "weights.hdf5", "vocab.txt", "MODEL_CARD.md",
                 "metadata.json", "tokenizer.json", "test_sample.txt"):
        assert (model / name).is_file(), name
