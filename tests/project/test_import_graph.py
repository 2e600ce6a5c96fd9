"""The package's import graph, read from its source with `ast` (nothing is imported):
no cycle anywhere, and each folder imports only the folders below it.

Every import counts, at the top of a module and inside functions alike: a function-level
import is still an edge (it only hides a cycle until that function runs). An import of
`a.b.c` is an edge to `a.b.c`; `from a.b import c` is an edge to `a.b.c` when that is a
module, else to `a.b`.
"""

import ast
import pathlib

import pytest

PACKAGE = "elmo_keras"
ROOT = pathlib.Path(__file__).resolve().parents[2] / PACKAGE


def _module_name(path):
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules():
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imported(node, module, is_package, modules):
    """The package modules an `Import`/`ImportFrom` node of `module` names."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: from the module's package, up `level - 1` folders
            anchor = module.split(".") if is_package else module.split(".")[:-1]
            anchor = anchor[:len(anchor) - (node.level - 1)]
            base = ".".join(anchor + ([base] if base else []))
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                 for a in node.names]
    found = set()
    for name in names:
        while name and name not in modules:  # `import a.b.c` of a name inside a.b.c
            name = name.rpartition(".")[0]
        if name:
            found.add(name)
    return found


def import_graph():
    """`{module: set of package modules it imports}`, for every module of the package."""
    modules = _modules()
    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _imported(node, module, path.name == "__init__.py", modules)
        edges.discard(module)
        graph[module] = edges
    return graph


def find_cycle(graph, within=None):
    """One import cycle among the modules (those under `within` when given) as a list
    `[a, b, ..., a]`, or None."""
    nodes = sorted(m for m in graph if within is None or _under(m, within))
    state = {}  # absent: unseen; 1: on the current path; 2: done
    path = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if within is not None and not _under(nxt, within):
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in nodes:
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def _under(module, folder):
    prefix = f"{PACKAGE}.{folder}"
    return module == prefix or module.startswith(prefix + ".")


def _upward(graph, folder, forbidden):
    return sorted(f"{m} -> {t}" for m, targets in graph.items() if _under(m, folder)
                  for t in targets if any(_under(t, f) for f in forbidden))


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_the_graph_is_read(graph):
    """The reader sees what is there: the backbone imports its layers, the package's
    `__init__` the backbone (a reader that found no edges would pass every test)."""
    g = graph
    assert "elmo_keras.layers.bilm" in g["elmo_keras.models.elmo.elmo_backbone"]
    assert "elmo_keras.models.elmo.elmo_backbone" in g["elmo_keras"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_file_formats_import_no_model(graph):
    """`io/` reads and writes arrays and configs; the model side builds the `ELMo`."""
    upward = _upward(graph, "io", ("models", "layers", "training", "apps"))
    assert not upward, "io/ imports from above it: " + "; ".join(upward)


def test_layers_import_no_model_format_or_application(graph):
    upward = _upward(graph, "layers", ("models", "io", "training", "apps"))
    assert not upward, "layers/ imports from above it: " + "; ".join(upward)
