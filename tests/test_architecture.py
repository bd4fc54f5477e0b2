"""The layering of docs/ARCHITECTURE.md, checked on the source: every module imports (at its
top level) only modules of its own layer or below, and no import loop exists. Imports
inside functions are deferred for speed (the CLI answers without torch) and are left out,
except that they must not form a loop with the top-level imports of the same layer."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pipeline"

# Lowest first; a module belongs to the longest prefix listed. Mirrors docs/ARCHITECTURE.md.
LAYERS = [
    [
        "pipeline",
        "pipeline.errors",
        "pipeline.steps",
        "pipeline.labels",
        "pipeline.allocation",
        "pipeline.resources",
        "pipeline.paths",
        "pipeline.io",
        "pipeline.locks",
    ],
    ["pipeline.methods", "pipeline.prior.components"],
    ["pipeline.config"],
    [
        "pipeline.data",
        "pipeline.models",
        "pipeline.features",
        "pipeline.store",
        "pipeline.identity",
    ],
    ["pipeline.prune", "pipeline.train", "pipeline.prior", "pipeline.runs"],
    [
        "pipeline.launch.backends",
        "pipeline.launch.jobspec",
        "pipeline.launch.checks",
        "pipeline.launch.sizing",
        "pipeline.launch.submissions",
        "pipeline.launch.signals",
        "pipeline.launch.cluster",
        "pipeline.launch.manifest",
        "pipeline.driver",
        "pipeline.validate",
    ],
    [
        "pipeline.compose",
        "pipeline.launch",
        "pipeline.reduce",
        "pipeline.report",
        "pipeline.results",
    ],
    ["pipeline.study"],
    ["pipeline.commands", "pipeline.cli", "pipeline.report.__main__", "pipeline.reduce.__main__"],
]


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    best, layer = -1, None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module.startswith(prefix + ".") and prefix != "pipeline"
            if (module == prefix or inside) and len(prefix) > best:
                best, layer = len(prefix), index
    assert layer is not None, f"{module} is in no layer of LAYERS (docs/ARCHITECTURE.md)"
    return layer


def _imports(path: Path, module: str, modules: set[str], deferred: bool) -> set[str]:
    """Pipeline modules imported by `path`: at its top level, and with `deferred` also inside
    its functions (`from pkg import mod` counts as an import of pkg.mod when mod is a module,
    else of pkg). `if TYPE_CHECKING:` imports are annotations, not imports."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    nodes = ast.walk(tree) if deferred else iter(tree.body)
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in nodes:
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{parent}.{node.module}" if node.module else parent
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return {name for name in found if name in modules} - {module}


def _graph(deferred: bool = False) -> dict[str, set[str]]:
    """The import graph; with `deferred`, imports inside functions count too, except those of
    a pruning method's file (its build drives the layers above its spec, by design)."""
    paths = {_module(p): p for p in PACKAGE.rglob("*.py")}
    return {
        name: _imports(
            path, name, set(paths), deferred and not name.startswith("pipeline.methods.")
        )
        for name, path in paths.items()
    }


def test_every_import_goes_to_the_same_layer_or_below():
    upward = [
        f"{src} (layer {_layer(src)}) imports {dst} (layer {_layer(dst)})"
        for src, targets in _graph().items()
        for dst in targets
        if _layer(dst) > _layer(src)
    ]
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("deferred", [False, True], ids=["top-level", "with-deferred"])
def test_no_import_loop(deferred):
    graph, state, loops = _graph(deferred), {}, []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                loops.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not loops, "\n".join(loops)


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["config", "prune.method"], ["status", "--help"], ["inspect", "-h"]],
)
def test_commands_that_do_not_train_import_neither_torch_nor_pandas(argv):
    code = (
        "import sys\nfrom pipeline.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('torch', 'pandas', 'matplotlib') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]


def test_a_new_method_is_one_file():
    """Every method is a module of pipeline/methods defining SPEC; nothing else names it."""
    from pipeline.methods import METHODS

    files = {p.stem for p in (PACKAGE / "methods").glob("*.py")} - {"__init__", "spec"}
    assert len(files) == len(METHODS)
    for name in METHODS:
        mentions = [
            str(p.relative_to(ROOT))
            for p in PACKAGE.rglob("*.py")
            if f'"{name}"' in p.read_text() and p.parent.name != "methods"
        ]
        # the run model and the study name IMP and its controls by design; no registry does
        assert not [m for m in mentions if m.endswith(("validate.py", "identity.py"))], (
            name,
            mentions,
        )
