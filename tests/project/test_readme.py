"""The README's two commands stay true: CI runs exactly the README's test command."""

import configparser
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
