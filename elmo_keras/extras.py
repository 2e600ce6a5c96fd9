"""Optional dependencies, installed with the package's extras (`pip install
'elmo-keras[train]'`, `[hub]`, `[plot]`), imported when first needed."""

import importlib


class MissingExtraError(ImportError):
    """An optional dependency that is not installed; the message names what to install."""


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
        raise MissingExtraError(f"{purpose} needs {module.split('.')[0]}, which is not "
                                f"installed: pip install 'elmo-keras[{extra}]'") from e
