"""AllenNLP's own ELMo modules (`allennlp==0.9.0`), importable without its dependencies.

`allennlp.modules.elmo` is plain PyTorch, but importing it through AllenNLP's packages
pulls spaCy, boto3, requests, jsonnet and the rest of the library. `import_elmo` runs
AllenNLP's own files (the wheel's code, not a copy): the packages it passes through
are registered empty (their `__init__` files are skipped) and the few names it imports
for features a benchmark does not use (data pipeline, `Params`, registries, remote
files) are stubs. Only `torch`, `numpy` and `h5py` are needed.

    python -m pip download --no-deps allennlp==0.9.0 -d .whl   # the wheel (pure Python)
    Elmo = import_elmo(".whl/allennlp-0.9.0-py3-none-any.whl").Elmo
"""

import importlib
import importlib.util
import os
import sys
import tempfile
import types
import zipfile

_PACKAGES = ["allennlp", "allennlp.common", "allennlp.data", "allennlp.data.token_indexers",
             "allennlp.data.tokenizers", "allennlp.modules", "allennlp.nn"]


class _Stub:
    """Stands for an AllenNLP class the ELMo modules name but a benchmark never uses
    (data pipeline, `Params`, `Registrable`)."""

    _registry = {}

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} is stubbed out by allennlp_peer")

    def __class_getitem__(cls, item):
        return cls

    @classmethod
    def register(cls, name, *args, **kwargs):
        return lambda registered: registered


def _stub_class(name):
    return type(name, (_Stub,), {"_registry": {}})


def _module(name, path=None, **attrs):
    module = types.ModuleType(name)
    if path is not None:
        module.__path__ = [path]
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


def _lazy_groups_of(iterator, group_size):
    while True:
        group = [x for _, x in zip(range(group_size), iterator)]
        if not group:
            return
        yield group


def _pad_sequence_to_length(sequence, desired_length, default_value=lambda: 0,
                            padding_on_right=True):
    padded = list(sequence)[:desired_length]
    pad = [default_value() for _ in range(desired_length - len(padded))]
    return padded + pad if padding_on_right else pad + padded


def allennlp_root(source=None):
    """The directory of the `allennlp` package: `source` (a wheel, a directory holding
    `allennlp/`, or the package directory itself), else the installed one (found, not
    imported)."""
    if source is None:
        spec = importlib.util.find_spec("allennlp")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("allennlp is not installed: pass the allennlp-0.9.0 wheel "
                              "(pip download --no-deps allennlp==0.9.0)")
        return list(spec.submodule_search_locations)[0]
    source = os.fspath(source)
    if source.endswith(".whl"):
        target = tempfile.mkdtemp(prefix="allennlp_")
        with zipfile.ZipFile(source) as z:
            z.extractall(target, [n for n in z.namelist() if n.startswith("allennlp/")])
        source = target
    if os.path.isfile(os.path.join(source, "allennlp", "modules", "elmo.py")):
        return os.path.join(source, "allennlp")
    if os.path.isfile(os.path.join(source, "modules", "elmo.py")):
        return source
    raise ImportError(f"{source}: no allennlp/modules/elmo.py there")


def import_elmo(source=None):
    """`allennlp.modules.elmo` (its `Elmo`, `_ElmoBiLm`, `batch_to_ids`), run from
    AllenNLP's own files with stubs for what it does not need here.

    Args:
        source: the allennlp 0.9.0 wheel, or a directory holding it unpacked; None for
            an installed `allennlp` (its `__init__` is not run).

    Returns:
        the `allennlp.modules.elmo` module.
    """
    root = allennlp_root(source)
    for name in list(sys.modules):
        if name == "allennlp" or name.startswith("allennlp."):
            del sys.modules[name]
    for name in _PACKAGES:
        _module(name, os.path.join(root, *name.split(".")[1:]))
    stubs = {n: _stub_class(n) for n in ("Params", "Registrable", "Token", "Vocabulary",
                                         "Instance", "Batch", "TextField", "TokenIndexer")}
    if "overrides" not in sys.modules and importlib.util.find_spec("overrides") is None:
        _module("overrides", overrides=lambda f: f)
    # Remote files and the data pipeline: only local paths and char ids are used.
    _module("allennlp.common.file_utils", cached_path=os.fspath)
    _module("allennlp.common.params", Params=stubs["Params"])
    _module("allennlp.common.util", lazy_groups_of=_lazy_groups_of,
            pad_sequence_to_length=_pad_sequence_to_length)
    sys.modules["allennlp.common"].__dict__.update(Params=stubs["Params"],
                                                   Registrable=stubs["Registrable"])
    _module("allennlp.data.dataset", Batch=stubs["Batch"])
    _module("allennlp.data.fields", TextField=stubs["TextField"])
    _module("allennlp.data.vocabulary", Vocabulary=stubs["Vocabulary"])
    _module("allennlp.data.token_indexers.token_indexer", TokenIndexer=stubs["TokenIndexer"])
    sys.modules["allennlp.data"].__dict__.update(
        Token=stubs["Token"], Vocabulary=stubs["Vocabulary"], Instance=stubs["Instance"])
    return importlib.import_module("allennlp.modules.elmo")
