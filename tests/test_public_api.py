"""The public names: complete, importable, and documented."""

from __future__ import annotations

import importlib
import importlib.resources
import inspect

import pytest

import phoenix_actor
import phoenix_actor.runtime
import phoenix_actor.testing

MODULES = [phoenix_actor, phoenix_actor.runtime, phoenix_actor.testing]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_all_is_complete_and_importable(module: object) -> None:
    exported = set(module.__all__)  # type: ignore[attr-defined]
    assert len(exported) == len(module.__all__)  # type: ignore[attr-defined]
    for name in exported:
        assert hasattr(module, name), name
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", "").startswith("phoenix_actor")
    }
    assert public <= exported, f"public but not in __all__: {public - exported}"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_exported_class_and_function_has_a_docstring(module: object) -> None:
    for name in module.__all__:  # type: ignore[attr-defined]
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{name} has no docstring"


def test_exceptions_share_one_root() -> None:
    exceptions = importlib.import_module("phoenix_actor.exceptions")
    for name, value in vars(exceptions).items():
        if inspect.isclass(value) and issubclass(value, Exception):
            assert issubclass(value, phoenix_actor.PhoenixActorError), name


def test_py_typed_is_shipped() -> None:
    assert importlib.resources.files("phoenix_actor").joinpath("py.typed").is_file()


def test_every_exception_is_exported() -> None:
    from phoenix_actor import exceptions

    classes = {
        name
        for name, value in vars(exceptions).items()
        if inspect.isclass(value) and issubclass(value, BaseException)
    }
    assert classes <= set(phoenix_actor.__all__), classes - set(phoenix_actor.__all__)
