"""Optional dependencies, installed with the package's extras (`pip install
'elmo-keras[train]'`, `[hub]`, `[plot]`), imported when first needed."""

import importlib


def require(module, extra, purpose):
    """Imports `module`, or raises an ImportError that names the extra to install.

    Args:
        module: the module to import (`"matplotlib.pyplot"`).
        extra: the extra of elmo-keras that installs it (`"plot"`).
        purpose: what needs it, for the message (`"ScalarMixHistory.plot"`).
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"{purpose} needs {module.split('.')[0]}, which is not installed: "
                          f"pip install 'elmo-keras[{extra}]'") from e
