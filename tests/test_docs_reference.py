"""The pages in docs/ stay true: the configuration reference, the examples, the names.

* docs/configuration.rst has one table row per field of ``Config`` and of
  ``TransportOptions``, and each row's default is the field's real default;
* every ``.. code-block:: python`` of every page runs (a block that needs something
  the test suite does not have is marked ``text`` instead); a block that defines
  ``test_*`` functions has them called, with the pytest fixtures they name;
* every ``phoenix_actor.<name>`` a page mentions exists, every logger the package
  creates is named in docs/logging.rst, and links between pages point at real files.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

import phoenix_actor as pa

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.rst"))
CONFIGURATION = DOCS / "configuration.rst"

_DIRECTIVE = re.compile(r"^(?P<indent> *)\.\. (?P<name>[\w-]+)::(?P<argument>.*)$")


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _directives(text: str, name: str) -> list[tuple[str, list[str]]]:
    """Each ``.. name:: argument`` directive: its argument and its (dedented) body lines."""
    lines = text.splitlines()
    found = []
    for number, line in enumerate(lines):
        match = _DIRECTIVE.match(line)
        if match is None or match["name"] != name:
            continue
        indent = len(match["indent"])
        body = []
        for following in lines[number + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        found.append((match["argument"].strip(), textwrap.dedent("\n".join(body)).splitlines()))
    return found


def _code_blocks(language: str) -> list[tuple[str, str]]:
    """``(label, source)`` of every ``.. code-block:: language`` of every page."""
    blocks = []
    for page in PAGES:
        numbered = enumerate(_directives(_read(page), "code-block"), start=1)
        for number, (argument, body) in numbered:
            if argument == language:
                source = "\n".join(line for line in body if not line.startswith(":"))
                blocks.append((f"{page.name} block {number}", source.strip("\n") + "\n"))
    return blocks


def _list_tables(text: str) -> dict[str, list[list[str]]]:
    """Each titled ``list-table``: its rows, each a list of cells as one line of text."""
    tables = {}
    for title, body in _directives(text, "list-table"):
        rows: list[list[str]] = []
        for line in body:
            if line.startswith("* - "):
                rows.append([line[4:].strip()])
            elif line.startswith("  - "):
                rows[-1].append(line[4:].strip())
            elif line.startswith("    ") and rows:
                rows[-1][-1] += " " + line.strip()
        tables[title] = rows
    return tables


def _literal(cell: str) -> str:
    match = re.fullmatch(r"``(.+)``", cell)
    assert match is not None, f"{cell!r} is not one ``literal``"
    return match[1]


def _documented_fields(prefix: str) -> dict[str, list[str]]:
    """The rows of the configuration tables titled ``prefix...``, by field name."""
    rows: dict[str, list[str]] = {}
    for title, table in _list_tables(_read(CONFIGURATION)).items():
        if not title.startswith(prefix):
            continue
        for row in table[1:]:  # the first row is the header
            name = _literal(row[0])
            assert name not in rows, f"{name} has two rows"
            rows[name] = row
    return rows


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    assert field.default_factory is not dataclasses.MISSING
    return field.default_factory()


# -- the configuration reference ---------------------------------------------------------

REFERENCED = [pa.Config, pa.TransportOptions]


@pytest.mark.parametrize("cls", REFERENCED, ids=lambda c: c.__name__)
def test_every_field_is_named_in_the_configuration_page(cls: type) -> None:
    text = _read(CONFIGURATION)
    missing = [f.name for f in dataclasses.fields(cls) if f"``{f.name}``" not in text]
    assert not missing, f"docs/configuration.rst does not mention {cls.__name__}.{missing}"


@pytest.mark.parametrize("cls", REFERENCED, ids=lambda c: c.__name__)
def test_every_field_has_one_row_with_its_real_default(cls: type) -> None:
    rows = _documented_fields(cls.__name__)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert sorted(rows) == sorted(fields), f"the {cls.__name__} tables and fields differ"
    namespace = {name: getattr(pa, name) for name in pa.__all__}
    for name, field in fields.items():
        written = _literal(rows[name][2])
        documented = eval(written, namespace)  # the cells are our own Python literals
        actual = _default(field)
        same = documented == actual or (
            type(documented) is type(actual) and repr(documented) == repr(actual)
        )
        assert same, f"{cls.__name__}.{name}: the page says {written}, the code {actual!r}"


def test_the_table_parser_sees_every_column() -> None:
    tables = _list_tables(_read(CONFIGURATION))
    assert tables, "no list-table found"
    for title, rows in tables.items():
        widths = {len(row) for row in rows}
        assert widths == {5}, f"{title!r} has rows of {sorted(widths)} cells"


# -- runnable examples -------------------------------------------------------------------

PYTHON_BLOCKS = _code_blocks("python")


def test_the_pages_have_examples() -> None:
    pages = {label.split(" block ")[0] for label, _ in PYTHON_BLOCKS}
    expected = {"configuration.rst", "getting-started.rst", "testing.rst", "threading.rst"}
    assert expected <= pages


@pytest.mark.parametrize(
    ("label", "source"), PYTHON_BLOCKS, ids=[label for label, _ in PYTHON_BLOCKS]
)
def test_python_block_runs(label: str, source: str, request: pytest.FixtureRequest) -> None:
    namespace: dict[str, Any] = {"__name__": f"docs_{label.replace(' ', '_')}"}
    exec(compile(source, label, "exec"), namespace)
    tests = [
        value
        for name, value in namespace.items()
        if name.startswith("test_") and inspect.isfunction(value)
    ]
    for test in tests:
        fixtures = inspect.signature(test).parameters
        test(**{name: request.getfixturevalue(name) for name in fixtures})


# -- names, loggers and links ------------------------------------------------------------


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for attribute in parts[split:]:
                target = getattr(target, attribute)
        except AttributeError:
            return False
        return True
    return False


def _loggers() -> set[str]:
    """The names of the loggers the package creates."""
    created = set()
    for module in (ROOT / "phoenix_actor").rglob("*.py"):
        created.update(re.findall(r'getLogger\("([\w.]+)"\)', _read(module)))
    return created


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_phoenix_actor_name_exists(page: Path) -> None:
    names = set(re.findall(r"\bphoenix_actor(?:\.[A-Za-z_]\w*)+", _read(page))) - _loggers()
    missing = sorted(name for name in names if not _resolves(name))
    assert not missing, f"{page.name} names what does not exist: {missing}"


def test_every_logger_is_in_the_logging_page() -> None:
    created = _loggers()
    assert "phoenix_actor.socket" in created
    page = _read(DOCS / "logging.rst")
    missing = sorted(name for name in created if f"``{name}``" not in page)
    assert not missing, f"docs/logging.rst does not name the loggers {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_point_at_real_files(page: Path) -> None:
    targets = re.findall(r"<([^<>\s]+\.(?:rst|py|md))>`_", _read(page))
    missing = [t for t in targets if not (page.parent / t).resolve().exists()]
    assert not missing, f"{page.name} links to missing files: {missing}"
