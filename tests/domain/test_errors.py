"""One error tree: every ``MarketSessionError`` of the engine is defined in ``domain/errors.py``
and drawn, under its real parent, in that module's docstring."""

from __future__ import annotations

import importlib
import pkgutil
import re
from types import ModuleType

import pytest

import domain.errors
from domain.errors import MarketSessionError
from ops.faults import InjectedCrash

PACKAGES = ("actors", "domain", "ops")
NOT_IMPORTABLE_ALONE = {
    "domain.store.migrations.env",  # Alembic's environment script: runs only inside Alembic
    "ops.bench.__main__",  # runs the benchmark suite when imported
    "ops.cli.__main__",  # runs the command line when imported
}
DEFINED = [
    value
    for value in vars(domain.errors).values()
    if isinstance(value, type) and issubclass(value, MarketSessionError)
]
# a tree line: box-drawing indent, a class name, then two or more spaces and what it is
TREE_LINE = re.compile(r"^ {4}(?P<indent>(?:[│ ] {3})*)(?:[├└]── )?(?P<name>[A-Z]\w+)(?:\s{2,}|$)")


def _all_modules() -> list[ModuleType]:
    modules = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        modules.append(package)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            if info.name not in NOT_IMPORTABLE_ALONE:
                modules.append(importlib.import_module(info.name))
    return modules


def _engine_errors() -> set[type[MarketSessionError]]:
    _all_modules()  # a subclass exists once its module is imported
    found: set[type[MarketSessionError]] = set()
    todo: list[type[MarketSessionError]] = [MarketSessionError]
    while todo:
        cls = todo.pop()
        if cls.__module__.split(".")[0] in PACKAGES and cls not in found:
            found.add(cls)
        todo.extend(cls.__subclasses__())
    return found


def _drawn_tree() -> dict[str, str | None]:
    """The docstring's tree: each class name drawn, with the name of the class drawn above it."""
    parents: dict[str, str | None] = {}
    stack: list[str] = []
    doc = domain.errors.__doc__ or ""
    for line in doc.split("\n\n")[1].splitlines():  # the block after the first paragraph
        match = TREE_LINE.match(line)
        assert match, f"not a line of the tree: {line!r}"
        depth = len(match["indent"]) // 4 + (0 if line.lstrip().startswith(match["name"]) else 1)
        del stack[depth:]
        parents[match["name"]] = stack[-1] if stack else None
        stack.append(match["name"])
    return parents


def test_every_engine_error_is_defined_in_domain_errors() -> None:
    elsewhere = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _engine_errors()
        if cls.__module__ != "domain.errors"
    )
    assert not elsewhere, f"MarketSessionError subclasses defined outside domain/errors.py: {elsewhere}"


def test_the_walk_sees_errors_raised_by_actors_and_ops() -> None:
    """The walk is not vacuous: it finds the errors that supervision, the engine and ops raise."""
    names = {cls.__name__ for cls in _engine_errors()}
    assert {"ChildUnavailable", "EngineTimeout", "FaultError", "ServiceError", "ProviderRateLimited"} <= names


def test_the_docstring_draws_every_error_under_its_parent() -> None:
    drawn = _drawn_tree()
    errors = {cls.__name__: cls for cls in _engine_errors()}
    assert set(drawn) == set(errors), {
        "not drawn": sorted(set(errors) - set(drawn)),
        "drawn but not an error": sorted(set(drawn) - set(errors)),
    }
    wrong = {
        name: (parent, errors[name].__bases__[0].__name__)
        for name, parent in drawn.items()
        if name != "MarketSessionError" and errors[name].__bases__[0].__name__ != parent
    }
    assert not wrong, f"drawn under the wrong parent (drawn, actual): {wrong}"
    assert drawn["MarketSessionError"] is None


@pytest.mark.parametrize("error", DEFINED, ids=lambda cls: cls.__name__)
def test_each_error_says_when_it_is_raised(error: type[MarketSessionError]) -> None:
    assert (error.__doc__ or "").startswith("Raised when"), f"{error.__name__}: {error.__doc__!r}"


def test_injected_crash_is_outside_the_tree_and_the_docstring_says_so() -> None:
    assert issubclass(InjectedCrash, RuntimeError)
    assert not issubclass(InjectedCrash, MarketSessionError)
    assert "InjectedCrash" not in _drawn_tree()
    outside = (domain.errors.__doc__ or "").split("\n\n")[2]
    assert "Outside the tree" in outside and "InjectedCrash" in outside
