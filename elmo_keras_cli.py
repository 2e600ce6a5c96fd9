"""The `elmo-keras` command's entry point, kept outside the `elmo_keras` package.

`import elmo_keras` imports Keras, and so TensorFlow on Keras' default backend: seconds
of start-up and TensorFlow's log lines, before the command has even read its
arguments. This module runs `elmo_keras/apps/cli.py` (which imports only the standard
library at its top) without importing the package first, so `elmo-keras --help` and
argument errors answer at once, and `cli.main` quiets TensorFlow's logging before the
package is imported.
"""

import importlib.util
import os


def main(argv=None):
    package = importlib.util.find_spec("elmo_keras")  # finds the package, imports nothing
    path = os.path.join(package.submodule_search_locations[0], "apps", "cli.py")
    spec = importlib.util.spec_from_file_location("elmo_keras_cli_main", path)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    return cli.main(argv)
