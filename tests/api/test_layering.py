"""The API reads what the processor stores but never imports the processor: what both need
(candle intervals, the multi-exchange candle, USD values) lives in shared/."""

from __future__ import annotations

import ast
from pathlib import Path

API = Path(__file__).resolve().parents[2] / "services" / "api"
FORBIDDEN = "services.processor"


def imported_modules(tree: ast.AST) -> list[str]:
    """Every module an `import` or `from ... import` names, with `from a import b` also as a.b."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def is_forbidden(module: str) -> bool:
    return module == FORBIDDEN or module.startswith(FORBIDDEN + ".")


def test_the_checker_sees_every_form_of_import() -> None:
    for source in ("import services.processor.candles", "from services.processor import candles",
                   "from services import processor", "def f():\n    from services.processor.x import y\n"):
        assert any(is_forbidden(m) for m in imported_modules(ast.parse(source))), source
    assert not any(is_forbidden(m) for m in imported_modules(ast.parse("from services.api import data")))


def test_api_never_imports_the_processor() -> None:
    files = sorted(API.rglob("*.py"))
    assert files, API
    found = [
        f"{path.relative_to(API.parents[1])}: {module}"
        for path in files
        for module in imported_modules(ast.parse(path.read_text(), str(path)))
        if is_forbidden(module)
    ]
    assert found == []
