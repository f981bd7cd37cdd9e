"""The package's shape (issue 13): no module imports another's private name, no import cycle, and
the arrows point one way (layers <- models <- tasks <- commands <- cli)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
LAYERS = ("cnnlstm.layers", "cnnlstm.models", "cnnlstm.tasks", "cnnlstm.commands", "cnnlstm.cli")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / "cnnlstm").rglob("*.py")):
        name = ".".join(path.with_suffix("").relative_to(SRC).parts).removesuffix(".__init__")
        found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path, top_level: bool) -> list[ast.ImportFrom | ast.Import]:
    tree = ast.parse(path.read_text())
    nodes: list[ast.AST] = list(tree.body) if top_level else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue  # read by type checkers only
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
    return found


def _module_of(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> dict[str, set[str]]:
    """Each module's imports of other cnnlstm modules, at module level (run at import)."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        deps: set[str] = set()
        for node in _imports(path, top_level=True):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif node.module and node.level == 0:
                subs = [f"{node.module}.{alias.name}" for alias in node.names]
                targets = [s for s in subs if s in MODULES]
                targets += [node.module] if len(targets) < len(subs) else []
            else:
                targets = []
            for target in targets:
                module = _module_of(target) if target.startswith("cnnlstm") else None
                if module and module != name:
                    deps.add(module)
        graph[name] = deps
    return graph


def test_no_module_imports_a_private_name_of_another():
    private = [
        f"{name} imports {node.module}.{alias.name}"
        for name, path in MODULES.items()
        for node in _imports(path, top_level=False)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cnnlstm")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert private == []


def test_no_import_cycle():
    graph = _graph()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:  # depth first, with the path for a message
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        for dep in sorted(graph[name]):
            visit(dep, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    assert len(done) == len(MODULES) > 100


def test_arrows_point_one_way():
    def rank(name: str) -> int | None:
        return next(
            (k for k, top in enumerate(LAYERS) if name == top or name.startswith(top + ".")), None
        )

    upward = [
        f"{name} -> {dep}"
        for name, deps in _graph().items()
        for dep in deps
        if rank(name) is not None and rank(dep) is not None and rank(dep) > rank(name)
    ]
    beside = [  # data and the anomaly application sit beside the stack, below the commands
        f"{name} -> {dep}"
        for name, deps in _graph().items()
        if name.startswith(("cnnlstm.data", "cnnlstm.anomaly"))
        for dep in deps
        if dep.startswith(("cnnlstm.commands", "cnnlstm.cli", "cnnlstm.tasks"))
    ]
    assert upward == [] and beside == []


def test_the_checks_see_what_they_look_for(tmp_path):
    """The walks above find a private import and a cycle where there is one."""
    source = "from cnnlstm.a import _hidden\nimport cnnlstm.b\n"
    (tmp_path / "m.py").write_text(source)
    nodes = _imports(tmp_path / "m.py", top_level=True)
    assert [a.name for n in nodes if isinstance(n, ast.ImportFrom) for a in n.names] == ["_hidden"]
    assert _module_of("cnnlstm.layers.convlstm.ConvLSTM") == "cnnlstm.layers.convlstm"
    assert "cnnlstm.layers" in _graph()["cnnlstm.models.cnnlstm"] or any(
        dep.startswith("cnnlstm.layers") for dep in _graph()["cnnlstm.models.cnnlstm"]
    )
