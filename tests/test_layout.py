"""The layout's rules, read from the source: who may import what, and how lib/ is grouped.

lib/ is grouped by domain (tavus, storage, photos, replicas, conversations) plus lib/ui, the only
Streamlit layer; pages are UI only and every one starts with the shell's frame call.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / "lib"
PAGES = sorted((ROOT / "pages").glob("*.py"))
MAX_TOP_LEVEL_MODULES = 8
DOMAINS = {"tavus", "storage", "photos", "replicas", "conversations", "ui", "videos", "actions",
           "knowledge", "personas"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def lib_files() -> list[Path]:
    return sorted(LIB.rglob("*.py"))


def imported_names(tree: ast.AST, *, module: str = "", top_level_only: bool = False,
                   ) -> Iterator[str]:
    """Every module a file imports (with `from x import y` also yielding x.y, which may be a
    module). With `top_level_only`, imports inside functions and `if TYPE_CHECKING:` are
    skipped: those do not run when the file is imported."""
    package = module.rsplit(".", 1)[0] if module else ""

    def visit(node: ast.AST) -> Iterator[str]:
        for child in ast.iter_child_nodes(node):
            if top_level_only and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                     ast.Lambda)):
                continue
            if (top_level_only and isinstance(child, ast.If)
                    and "TYPE_CHECKING" in ast.unparse(child.test)):
                yield from (n for c in child.orelse for n in visit_one(c))
                continue
            yield from visit_one(child)

    def visit_one(node: ast.AST) -> Iterator[str]:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this file's package
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
        yield from visit(node)

    yield from visit(tree)


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def test_lib_has_at_most_eight_top_level_modules_the_rest_are_domain_packages() -> None:
    modules = sorted(p.stem for p in LIB.glob("*.py") if p.stem != "__init__")
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules
    packages = {p.name for p in LIB.iterdir() if (p / "__init__.py").is_file()}
    assert packages == DOMAINS


def test_tests_mirror_the_lib_packages() -> None:
    for package in DOMAINS:
        assert (ROOT / "tests" / package / "__init__.py").is_file(), package
        assert list((ROOT / "tests" / package).glob("test_*.py")), package


@pytest.mark.parametrize("path", lib_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_lib_ui_imports_streamlit(path: Path) -> None:
    names = set(imported_names(parse(path), module=module_name(path)))
    uses_streamlit = any(n == "streamlit" or n.startswith("streamlit.") for n in names)
    in_ui = path.relative_to(LIB).parts[0] == "ui"
    assert in_ui or not uses_streamlit, f"{path.relative_to(ROOT)} imports Streamlit"


@pytest.mark.parametrize("path", lib_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_from_pages_to_lib_never_back(path: Path) -> None:
    names = set(imported_names(parse(path), module=module_name(path)))
    backwards = {n for n in names if n.split(".")[0] in {"pages", "tests", "streamlit_app",
                                                          "bench"}}
    assert not backwards, f"{path.relative_to(ROOT)} imports {sorted(backwards)}"
    if path.relative_to(LIB).parts[0] != "ui":  # the domains never reach up into the UI
        assert not {n for n in names if n == "lib.ui" or n.startswith("lib.ui.")}, path


def import_closure(start: Path) -> set[str]:
    """Modules of this repository that importing `start` loads (imports run at import time)."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        path = todo.pop()
        for name in imported_names(parse(path), module=module_name(path), top_level_only=True):
            if not name.startswith("lib"):
                continue
            parts = name.split(".")
            # `lib.a.b` loads lib, lib.a and lib.a.b (when each is a module of ours).
            for i in range(1, len(parts) + 1):
                dotted = ".".join(parts[:i])
                base = ROOT.joinpath(*parts[:i])
                for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                    if candidate.is_file() and dotted not in seen:
                        seen.add(dotted)
                        todo.append(candidate)
    return seen


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_page_loads_the_simulator(page: Path) -> None:
    loaded = import_closure(page)
    assert "lib.ui.shell" in loaded  # the closure is really followed (positive control)
    assert not {m for m in loaded if m.startswith("lib.tavus.simulator")}, page.name
    direct = set(imported_names(parse(page)))
    assert not {n for n in direct if "simulator" in n}, page.name


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_page_starts_with_the_shell_frame(page: Path) -> None:
    # A page reached by a deep link on a fresh server runs without streamlit_app.py: the
    # frame (page config, gate, banner) must be the first thing it does.
    body = [node for node in parse(page).body
            if not isinstance(node, (ast.Import, ast.ImportFrom))
            and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
    first = ast.unparse(body[0])
    assert first.startswith("frame = shell.frame("), f"{page.name} starts with {first!r}"
