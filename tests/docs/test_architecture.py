"""``docs/architecture.md`` stays true: each row of its "where each rule lives" table names a home
file and the functions (or constants, types, methods) that hold the rule there; each is defined
in that file, and nowhere else in the core or the Python package, so a rule restated in a second
place fails here. The bindings (``src/py/``, ``_core.pyi``) expose core functions under their
names and decide no rule, so they are not counted; neither is test code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARCHITECTURE = REPO / "docs" / "architecture.md"
#: Where rules may live: the Rust core and the Python package.
RUST_ROOT = REPO / "src" / "core"
PYTHON_ROOT = REPO / "python" / "atb_prediction"

#: A name as a row gives it: ``name``, or a method as ``Type::name`` (Rust) or ``Type.name``.
_NAME = re.compile(r"`((?:[A-Za-z_][A-Za-z0-9_]*(?:::|\.))?[A-Za-z_][A-Za-z0-9_]*)`")
_HOME = re.compile(r"`((?:src|python)/[^`]+\.(?:rs|py))`\s*\(([^)]*)\)")


@dataclass(frozen=True)
class Row:
    rule: str
    file: str
    names: tuple[str, ...]


def table_rows() -> list[Row]:
    """The rows of the table under "## Where each rule lives"."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("## Where each rule lives", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] in ("rule", "---") or set(cells[0]) <= {"-"}:
            continue
        rule, home = cells
        found = _HOME.search(home)
        assert found, f"the row {rule!r} names no home as `path` (`name`, ...): {home!r}"
        names = tuple(_NAME.findall(found.group(2)))
        assert names, f"the row {rule!r} names no function in its home: {home!r}"
        rows.append(Row(rule, found.group(1), names))
    return rows


def _rust_code(path: Path) -> str:
    """A Rust file without its comments and its test module."""
    text = path.read_text(encoding="utf-8")
    text = re.split(r"\n#\[cfg\(test\)\]\s*\nmod \w+ \{", text, maxsplit=1)[0]
    return re.sub(r"//[^\n]*", "", text)


def _python_code(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def defines(path: Path, name: str) -> bool:
    """Whether ``path`` defines ``name``: a method (``Type::name``, ``Type.name``) anywhere in it,
    any other name at the top level (a method of the same name, such as a property that reads the
    core's function, is not a second definition of a free function)."""
    parts = re.split(r"::|\.", name)
    bare, method = parts[-1], len(parts) > 1
    indent = r"[ \t]*" if method else ""
    if path.suffix == ".rs":
        visibility = r"(?:pub(?:\([^)]*\))?\s+)?(?:(?:const|unsafe|async)\s+)*"
        kinds = r"(?:fn|const|static|struct|enum|type|trait)"
        pattern = rf"^{indent}{visibility}{kinds}\s+{bare}\b"
        return re.search(pattern, _rust_code(path), re.MULTILINE) is not None
    pattern = rf"^{indent}(?:async\s+)?(?:def|class)\s+{bare}\b|^{bare}\s*(?::[^=\n]*)?="
    return re.search(pattern, _python_code(path), re.MULTILINE) is not None


def sources(suffix: str) -> list[Path]:
    root = RUST_ROOT if suffix == ".rs" else PYTHON_ROOT
    return sorted(p for p in root.rglob(f"*{suffix}") if "source_checks" not in p.parts)


ROWS = table_rows()


def test_the_table_has_rows() -> None:
    assert len(ROWS) >= 30


@pytest.mark.parametrize("row", ROWS, ids=[row.rule[:60] for row in ROWS])
def test_each_row_names_functions_defined_in_its_home(row: Row) -> None:
    home = REPO / row.file
    assert home.is_file(), f"{row.rule!r}: {row.file} does not exist"
    missing = [name for name in row.names if not defines(home, name)]
    assert not missing, f"{row.rule!r}: {row.file} defines none of {missing}"


def second_definition(path: Path, name: str) -> bool:
    """Whether ``path``, another file than the home, defines the rule ``name`` again. A method
    counts only in a file that also has its type (``impl Type``, ``struct Type``, ``class
    Type``): a method of the same name on another type is another rule. A Python function that
    hands its work to ``_core.<name>`` is the core's function exposed (as the bindings are), not
    a second one."""
    if not defines(path, name):
        return False
    parts = re.split(r"::|\.", name)
    if len(parts) > 1:
        owner = rf"\b(?:impl(?:<[^>]*>)?|struct|enum|trait|class)\s+{parts[0]}\b"
        code = _rust_code(path) if path.suffix == ".rs" else _python_code(path)
        return re.search(owner, code) is not None
    return not (path.suffix == ".py" and f"_core.{parts[-1]}(" in _python_code(path))


@pytest.mark.parametrize("row", ROWS, ids=[row.rule[:60] for row in ROWS])
def test_no_rule_is_defined_twice(row: Row) -> None:
    """A free name is looked for in both languages (a Python function restating a core rule under
    the same name fails); a method (``Type::name``, ``Type.name``) in its home's language."""
    home = REPO / row.file
    elsewhere = []
    for name in row.names:
        method = "::" in name or "." in name
        suffixes = [home.suffix] if method else [".rs", ".py"]
        for suffix in suffixes:
            elsewhere += [
                f"{path.relative_to(REPO)}: {name}"
                for path in sources(suffix)
                if path != home and second_definition(path, name)
            ]
    assert not elsewhere, f"{row.rule!r} is defined in {row.file} and also in {elsewhere}"
