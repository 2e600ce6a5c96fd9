"""The package as a user installs it: a wheel built from this checkout, installed into a
fresh virtual environment, run from an empty directory outside the repository.

The fresh environment gets the wheel only (`--no-deps`); its dependencies (TensorFlow,
Keras, ...) are read from the environment running the tests through a `.pth` line, so
the test needs no download. PYTHONPATH is cleared, so nothing of the checkout is
importable there.
"""

import os
import re
import shutil
import site
import sys
import time
import zipfile

import pytest

from tests.conftest import ROOT
from tests.support.processes import run as _run

TF_LOG_LINE = re.compile(r"^(WARNING: All log messages|[IWEF]\d{4} |.*cuda|.*oneDNN|"
                         r".*cpu_feature_guard|To enable the following)", re.I)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`(bin directory, environment, empty working directory, wheel path)`."""
    tmp = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "TF_CPP_MIN_LOG_LEVEL")}
    # A copy of the sources, so that no earlier build/ of the checkout leaks in.
    shutil.copytree(ROOT, tmp / "src", ignore=shutil.ignore_patterns(
        ".git", ".venv", ".ci-venv", "build", "dist", "*.egg-info", "__pycache__", "data",
        ".pytest_cache", "runs", ".bilm-venv"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
          "-w", str(tmp / "dist"), str(tmp / "src")], cwd=tmp, env=env)
    (wheel,) = (tmp / "dist").glob("elmo_keras-*.whl")
    _run([sys.executable, "-m", "venv", "--without-pip", str(tmp / "venv")], cwd=tmp, env=env)
    venv_site = next((tmp / "venv" / "lib").glob("python3*/site-packages"))
    # The dependencies of this environment, after the fresh one's own site-packages.
    deps = [p for p in site.getsitepackages() if os.path.isdir(p)]
    (venv_site / "zz_test_dependencies.pth").write_text("\n".join(deps) + "\n")
    bin_dir = tmp / "venv" / "bin"
    _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
          "--ignore-installed", str(wheel)], cwd=tmp, env=env)
    work = tmp / "empty"
    work.mkdir()
    return bin_dir, env, work, wheel


@pytest.mark.slow
def test_wheel_is_lean_and_carries_the_model(installed):
    bin_dir, env, work, wheel = installed
    assert wheel.stat().st_size < 22e6  # 21.1 MB, 9.6 of them the softmax (adaptation)
    names = zipfile.ZipFile(wheel).namelist()
    shipped = "elmo_keras/models/elmo/presets/elmo_small_en/"
    for name in ("weights.hdf5", "options.json", "vocab.txt", "tokenizer.json",
                 "metadata.json", "MODEL_CARD.md", "test_sample.txt", "softmax.hdf5"):
        assert shipped + name in names
    assert not any(n.endswith("saved_model.pb") or n.startswith("tests/")
                   for n in names)
    out = _run([str(bin_dir / "python"), "-c", "import elmo_keras; print(elmo_keras.__file__)"],
               cwd=work, env=env)
    assert str(ROOT) not in out.stdout and "venv" in out.stdout


@pytest.mark.slow
def test_help_does_not_import_tensorflow(installed):
    bin_dir, env, work, _ = installed
    code = ("import sys, elmo_keras_cli\ntry:\n    elmo_keras_cli.main(['--help'])\n"
            "except SystemExit:\n    pass\nprint('tensorflow' in sys.modules, "
            "'keras' in sys.modules)")
    out = _run([str(bin_dir / "python"), "-c", code], cwd=work, env=env)
    assert out.stdout.split()[-2:] == ["False", "False"]
    bad = _run([bin_dir / "elmo-keras", "demo", "--no-such-flag"], cwd=work, env=env,
               check=False)
    assert bad.returncode == 2 and "unrecognized arguments" in bad.stderr


@pytest.mark.slow
def test_demo_runs_quietly_from_an_empty_directory(installed):
    bin_dir, env, work, _ = installed
    start = time.time()
    out = _run([str(bin_dir / "elmo-keras"), "demo"], cwd=work, env=env)
    assert '"bank" in 4 sentences' in out.stdout and "nearest neighbours" in out.stdout
    log_lines = [line for line in out.stderr.splitlines() if TF_LOG_LINE.match(line)]
    assert not log_lines, out.stderr
    assert not out.stderr.strip(), out.stderr
    print(f"demo: {time.time() - start:.0f} s")
    _run([bin_dir / "elmo-keras", "demo", "--verbose", "--corpus-sentences", "5"],
         cwd=work, env=env)


@pytest.mark.slow
def test_quickstart_notebook_runs_from_the_installed_wheel(installed):
    bin_dir, env, work, _ = installed
    code = f"""
import nbformat
from nbclient import NotebookClient
nb = nbformat.read({str(ROOT / "notebooks" / "quickstart.ipynb")!r}, as_version=4)
NotebookClient(nb, timeout=600, kernel_name="python3",
               resources={{"metadata": {{"path": "."}}}}).execute()
out = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
assert "elmo_small_en" in out and "(2, 256)" in out, out
assert "/venv/lib/" in out and {str(ROOT)!r} not in out, out  # the installed package
print("ran")
"""
    out = _run([str(bin_dir / "python"), "-c", code], cwd=work,
               env=dict(env, TF_CPP_MIN_LOG_LEVEL="3"))
    assert out.stdout.strip().endswith("ran")
    assert sorted(p.name for p in work.iterdir()) == []  # nothing written beside it
