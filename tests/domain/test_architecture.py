"""The layer boundaries, checked by reading the source with ``ast`` (nothing is imported)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

DOMAIN_FORBIDDEN = (
    "flask",
    "redis",
    "rq",
    "tweepy",
    "psycopg",
    "psycopg_pool",
    "sqlite3",
    "marshmallow",
    "requests",
    "app",
    "projections",
    "workers",
)


def modules(package: str | Path) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imports(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """Every import in a module, nested ones too: (line, module, names imported from it)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            yield node.lineno, module, [alias.name for alias in node.names]


def is_within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def offences(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    """``path:line imports ...`` for every import of (or from) a forbidden package."""
    found = []
    for path in paths:
        for line, module, names in imports(path):
            targets = [module] + [f"{module}.{name}" for name in names]
            if any(is_within(t, f) for t in targets for f in forbidden):
                found.append(f"{path.name}:{line} imports {module} {names}")
    return found


def event_classes(paths: list[Path]) -> list[str]:
    """Classes deriving from something named like an aggregate or one of its events."""
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(base) for base in node.bases]
                if any("Aggregate" in b or b == "Event" or b.endswith(".Event") for b in bases):
                    found.append(f"{path.name}:{node.lineno} class {node.name}({', '.join(bases)})")
    return found


def test_the_boundary_check_sees_the_packages_it_guards() -> None:
    assert len(modules("domain")) >= 9
    assert modules("projections")
    assert modules("workers")


def test_domain_imports_no_web_queue_channel_or_sql_library() -> None:
    assert offences(modules("domain"), DOMAIN_FORBIDDEN) == []


def test_domain_uses_no_relative_imports() -> None:
    # A relative import could reach outside domain/ unseen by the check above.
    relative = [
        f"{path.name}:{line}"
        for path in modules("domain")
        for line, module, _ in imports(path)
        if module.startswith(".")
    ]
    assert relative == []


def test_projections_never_import_the_commands() -> None:
    assert offences(modules("projections"), ("domain.application",)) == []


def test_workers_never_build_events() -> None:
    assert offences(modules("workers"), ("eventsourcing.domain",)) == []
    assert event_classes(modules("workers")) == []


def test_the_check_catches_forbidden_imports_wherever_they_are(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import redis.client\n"
        "from domain import application\n"
        "def job():\n"
        "    from eventsourcing.domain import Aggregate\n"
        "    class Sent(Aggregate.Event): ...\n"
        "import redistools\n"
    )

    assert offences([bad], ("redis", "domain.application", "eventsourcing.domain")) == [
        "bad.py:1 imports redis.client []",
        "bad.py:2 imports domain ['application']",
        "bad.py:4 imports eventsourcing.domain ['Aggregate']",
    ]
    assert event_classes([bad]) == ["bad.py:5 class Sent(Aggregate.Event)"]


HTTP_WORDS = ("Idempotency-Key", "If-Match", "Last-Event-ID", "header", "HTTP")


def code_strings_and_keywords(path: Path) -> Iterator[tuple[int, str]]:
    """Every string constant but docstrings, and every keyword argument's name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                yield node.lineno, node.value
        elif isinstance(node, ast.keyword) and node.arg:
            yield node.value.lineno, f"{node.arg}="


def test_domain_knows_no_http() -> None:
    """Header names, error locations and statuses belong to the edge (app/)."""
    found = [
        f"{path.name}:{line}: {text!r}"
        for path in modules("domain")
        for line, text in code_strings_and_keywords(path)
        if any(word in text for word in HTTP_WORDS) or text == "location="
    ]

    assert found == []
