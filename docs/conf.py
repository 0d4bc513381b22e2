"""Sphinx configuration: the guides in docs/*.rst and an API reference from the docstrings.

Build: ``pip install -e ".[docs]"`` then ``sphinx-build -W --keep-going -n docs docs/_build``.

Public names are documented at their public paths only (``phoenix_actor.Socket``,
``phoenix_actor.testing.PhoenixServer``); references that Python's annotations make
to the private modules that define them are redirected there (:func:`_public_target`).
The guides link to one another as ``<page.rst>`_`` (so that they read on a code host
too); the HTML gets ``page.html`` instead, and the examples they link to are copied.
"""

from __future__ import annotations

import builtins
import importlib
import re
import shutil
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.util import logging

import phoenix_actor

ROOT = Path(__file__).resolve().parent.parent
_logger = logging.getLogger(__name__)

project = "phoenix_actor"
author = "The phoenix_actor developers"
copyright = "2026, The phoenix_actor developers"
release = phoenix_actor.__version__
version = release

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
root_doc = "index"

html_theme = "furo"
html_title = f"phoenix_actor {release}"
html_static_path: list[str] = []

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"show-inheritance": True}
autoclass_content = "class"
napoleon_google_docstring = False
napoleon_numpy_docstring = False

nitpicky = True

#: The modules whose names are public, the package itself first.
PUBLIC_MODULES = (
    "phoenix_actor",
    "phoenix_actor.aio",
    "phoenix_actor.exceptions",
    "phoenix_actor.presence",
    "phoenix_actor.runtime",
    "phoenix_actor.serializer",
    "phoenix_actor.supervision",
    "phoenix_actor.testing",
)

#: Outside this project: no inventory is fetched (the build has no network), so
#: references to the standard library and to the dependencies stay plain text.
_EXTERNAL = (
    r"(pykka|websocket|websockets|asyncio|threading|concurrent|collections|typing|types|"
    r"typing_extensions|ssl|socket|logging|json|enum|dataclasses|datetime|pathlib|queue|"
    r"abc|contextlib|os|io|http|urllib|pytest|_pytest|hypothesis|trustme|email)(\..+)?"
)
nitpick_ignore_regex = [
    (r"py:.*", _EXTERNAL),
    (r"py:.*", "|".join(name for name in dir(builtins) if not name.startswith("_"))),
    (r"py:.*", r"(.*\.)?(T|T_co|_S|_T|Any|Callable|Self|Literal|Optional|Union|NoneType)"),
    # The private bases and helpers that signatures and "Bases:" lines show.
    (r"py:.*", r"(phoenix_actor(\.\w+)*\.)?_\w+(\..*)?"),
    (r"py:.*", r"phoenix_actor(\.\w+)*\._\w+\.\w+"),
    (r"py:.*", r"ConnectPlan"),
    # Pykka's own type aliases, in the signatures of PooledFuture.
    (r"py:.*", r"OptExcInfo|GetHookFunc"),
    # How autodoc prints ``str | Callable[[], X]`` in a field type.
    (r"py:.*", r".*~collections\.abc\..*"),
]


#: The public type aliases, by name (``Backoff``).
ALIASES: set[str] = set()


def _public_paths() -> tuple[dict[str, str], dict[str, list[str]]]:
    """Where each public object is documented: by a path that reaches it (the one that
    defines it, ``phoenix_actor._facade.Socket``, or another public one,
    ``phoenix_actor.PushError``), and by bare name (``Socket``: every public path of that
    name). An object that a public sub-module exports is documented there, the rest
    under ``phoenix_actor``."""
    documented: dict[int, str] = {}
    by_path: dict[str, str] = {}
    by_name: dict[str, list[str]] = {}
    for module_name in (*PUBLIC_MODULES[1:], PUBLIC_MODULES[0]):
        module = importlib.import_module(module_name)
        for name in _exported(module):
            value = getattr(module, name)
            path = f"{module_name}.{name}"
            if not hasattr(value, "__qualname__"):  # data: a constant or a type alias
                by_name.setdefault(name, []).append(path)
                if name[0].isupper() and not name.isupper():
                    ALIASES.add(name)
                continue
            public = documented.setdefault(id(value), path)
            by_path[f"{value.__module__}.{value.__qualname__}"] = public
            by_path[path] = public
            if public == path:
                by_name.setdefault(name, []).append(path)
    return by_path, by_name


def _exported(module: Any) -> list[str]:
    """``__all__``, or else the public names the module defines."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
    ]


BY_PATH, BY_NAME = _public_paths()

# The public type aliases by name in signatures, rather than expanded, linked to their
# entry. (Not the private ``Params``: Sphinx 9 prints ``Params | None`` as a repr.)
autodoc_type_aliases = {name: paths[-1] for name, paths in BY_NAME.items() if name in ALIASES}


def _public_target(target: str, module: str | None) -> str | None:
    """The public path that ``target`` means (``phoenix_actor._facade.Socket``,
    ``Socket``, ``Socket.close``), seen from ``module``; None if none."""
    head, member = target, ""
    for _ in range(2):  # a class, or a member of a class
        if head in BY_PATH:
            return BY_PATH[head] + member
        candidates = BY_NAME.get(head.rsplit(".", 1)[-1], [])
        if "." not in head and candidates:
            for public in candidates:
                if public.rsplit(".", 1)[0] == module:
                    return public + member
            return candidates[-1] + member  # phoenix_actor's own, when it has one
        head, _, last = head.rpartition(".")
        member = f".{last}{member}"
        if not head:
            return None
    return None


def _missing_reference(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    if node.get("refdomain") != "py":
        return None
    target = _public_target(node["reftarget"].lstrip("~."), node.get("py:module"))
    if target is None or target == node["reftarget"]:
        return None
    domain = env.get_domain("py")
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], target, node, contnode
    )


_PAGE_LINK = re.compile(r"^(?!\w+:)(?P<page>[\w/.-]+)\.(?:rst|md)(?P<anchor>#.*)?$")
_EXAMPLE_LINK = re.compile(r"^\.\./examples/(?P<file>[\w.-]+\.py)$")


def _local_links(app: Any, doctree: Any, docname: str) -> None:
    """``<page.rst>`_`` to ``page.html``, ``<../examples/x.py>`_`` to the copied example."""
    depth = docname.count("/")
    for reference in doctree.findall(nodes.reference):
        uri = reference.get("refuri", "")
        if match := _PAGE_LINK.match(uri):
            reference["refuri"] = f"{match['page']}.html{match['anchor'] or ''}"
        elif match := _EXAMPLE_LINK.match(uri):
            reference["refuri"] = "../" * depth + f"examples/{match['file']}"


def _copy_examples(app: Any, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        target = Path(app.outdir) / "examples"
        target.mkdir(exist_ok=True)
        for example in sorted((ROOT / "examples").glob("*.py")):
            shutil.copy(example, target / example.name)


def _attribute_docs() -> dict[str, list[str]]:
    """The ``#:`` comments of the package's module-level names, by name: a constant or
    type alias re-exported by a public module gets the comment where it is defined."""
    from sphinx.pycode import ModuleAnalyzer

    docs: dict[str, list[str]] = {}
    for path in sorted((ROOT / "phoenix_actor").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        analyzer = ModuleAnalyzer.for_string(path.read_text(encoding="utf-8"), module)
        for (scope, name), lines in analyzer.find_attr_docs().items():
            if scope == "":
                docs.setdefault(name, list(lines))
    return docs


ATTRIBUTE_DOCS = _attribute_docs()


def _data_docstring(  # noqa: PLR0917 (the signature Sphinx calls)
    app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    if what == "data" and not any(line.strip() for line in lines):
        lines[:] = ATTRIBUTE_DOCS.get(name.rsplit(".", 1)[-1], [])


def _public_bases(app: Any, name: str, obj: Any, options: Any, bases: list[Any]) -> None:
    """ "Bases:" lines without ``object`` and without the package's private classes."""
    bases[:] = [
        base
        for base in bases
        if base is not object
        and not (
            getattr(base, "__module__", "").startswith("phoenix_actor")
            and f"{base.__module__}.{base.__qualname__}" not in BY_PATH
        )
    ]


_OPAQUE_DEFAULT = re.compile(r"(=\s*)<[^<>]*>")


def _opaque_defaults(  # noqa: PLR0917 (the signature Sphinx calls)
    app: Any, what: str, name: str, obj: Any, options: Any, signature: str | None, ret: str | None
) -> tuple[str | None, str | None] | None:
    """Defaults whose repr is ``<...>`` (a dataclass's ``<factory>``, a sentinel
    ``<object object>``, ``<built-in function monotonic>``) show as ``...``: Sphinx
    cannot parse them, and would print the whole signature raw."""
    if signature is not None and _OPAQUE_DEFAULT.search(signature):
        return _OPAQUE_DEFAULT.sub(r"\1...", signature), ret
    return None


def _skip_inherited_docs(  # noqa: PLR0917 (the signature Sphinx calls)
    app: Any, what: str, name: str, obj: Any, skip: bool, options: Any
) -> bool | None:
    """Skip a method that only overrides, without a docstring of its own: Pykka's actor
    hooks (``on_start``...) would otherwise show Pykka's docstrings, written for mkdocs,
    and a protocol's implementations repeat the protocol's."""
    if what == "class" and callable(obj) and getattr(obj, "__doc__", "") is None:
        return True
    return None


def _drop_empty_bases(app: Any, doctree: Any) -> None:
    """Remove the "Bases:" lines that :func:`_public_bases` left empty."""
    for paragraph in list(doctree.findall(nodes.paragraph)):
        if paragraph.astext().strip() == "Bases:":
            paragraph.parent.remove(paragraph)


def _check_every_public_name(app: Any, env: Any) -> None:
    """Warn (an error under -W) about each public name that no page documents."""
    documented = set(env.get_domain("py").objects)
    wanted = set(BY_PATH.values()) | {p for paths in BY_NAME.values() for p in paths}
    for path in sorted(wanted - documented):
        _logger.warning("the public name %s is documented on no page", path)


def setup(app: Any) -> None:
    app.connect("env-check-consistency", _check_every_public_name)
    app.connect("autodoc-process-docstring", _data_docstring)
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("autodoc-process-signature", _opaque_defaults)
    app.connect("doctree-read", _drop_empty_bases)
    app.connect("autodoc-skip-member", _skip_inherited_docs)
    app.connect("missing-reference", _missing_reference)
    app.connect("doctree-resolved", _local_links)
    app.connect("build-finished", _copy_examples)
