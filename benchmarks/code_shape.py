"""The shape of the `elmo_keras` package: modules, lines, the largest modules and
functions, and the backend `if`s outside the per-backend packages.

    python benchmarks/code_shape.py [PACKAGE_DIR]

A backend `if` is an `if` statement or conditional expression whose test calls
`backend()` (e.g. `keras.backend.backend()`) or compares with a backend name
("tensorflow", "jax", "torch", "numpy"). Those under `elmo_keras/layers/kernels/` and
`elmo_keras/training/backends/` are where backend code belongs and are not counted.
Nothing is imported: the files are parsed with `ast`.
"""

import ast
import pathlib
import sys

BACKEND_NAMES = {"tensorflow", "jax", "torch", "numpy"}
PER_BACKEND_DIRS = ("layers/kernels/", "training/backends/")


def _mentions_backend(test):
    for node in ast.walk(test):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "backend":
                return True
        if isinstance(node, ast.Compare):
            for operand in [node.left, *node.comparators]:
                values = operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
                if any(isinstance(v, ast.Constant) and v.value in BACKEND_NAMES for v in values):
                    return True
    return False


def shape(package):
    package = pathlib.Path(package)
    modules, functions, backend_ifs = [], [], []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent).as_posix()
        source = path.read_text(encoding="utf-8")
        modules.append((len(source.splitlines()), rel))
        tree = ast.parse(source)
        inside = path.relative_to(package).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.append((node.end_lineno - node.lineno + 1, f"{rel}:{node.lineno} {node.name}"))
            if isinstance(node, (ast.If, ast.IfExp)) and _mentions_backend(node.test):
                if not inside.startswith(PER_BACKEND_DIRS):
                    backend_ifs.append(f"{rel}:{node.lineno}")
    return modules, functions, backend_ifs


def main(argv):
    package = argv[1] if len(argv) > 1 else pathlib.Path(__file__).resolve().parent.parent / "elmo_keras"
    modules, functions, backend_ifs = shape(package)
    print(f"modules: {len(modules)}")
    print(f"lines: {sum(n for n, _ in modules)}")
    print("largest modules:")
    for n, name in sorted(modules, reverse=True)[:5]:
        print(f"  {n:5d}  {name}")
    print("longest functions:")
    for n, name in sorted(functions, reverse=True)[:5]:
        print(f"  {n:5d}  {name}")
    print(f"backend ifs outside layers/kernels/ and training/backends/: {len(backend_ifs)}")
    for where in backend_ifs:
        print(f"  {where}")


if __name__ == "__main__":
    main(sys.argv)
