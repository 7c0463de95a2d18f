"""The bus's errors form one tree under BusError, and the drawing in bus/errors.py is that tree.

Every exception class defined in bus/, producers/ and consumers/ is found by importing every module
there; each must be drawn once, with the module it lives in: in the tree under its parent, or in
the list of errors deliberately outside it. So the drawing cannot go stale.
"""

import importlib
import inspect
import pkgutil
import re
from types import ModuleType

import bus
import bus.errors
import consumers
import producers
from bus.errors import BusError

PACKAGES = (bus, producers, consumers)
OUTSIDE_HEADING = "Deliberately outside the tree"
# An entry of either drawing: indent, class name, module, and (outside the tree) why.
ENTRY = re.compile(
    r"^    (?P<indent> *)(?P<name>\w+) {2,}(?P<module>(?:bus|producers|consumers)\S*)"
)


def _modules(package: ModuleType) -> list[ModuleType]:
    names = [m.name for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")]
    return [package, *(importlib.import_module(name) for name in names)]


def _defined_errors() -> set[tuple[str, str]]:
    """(module, class name) of every exception class the packages define."""
    return {
        (module.__name__, cls.__name__)
        for package in PACKAGES
        for module in _modules(package)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == module.__name__
    }


def _drawings() -> tuple[list[tuple[int, str, str]], list[tuple[str, str]]]:
    """The tree as (depth, name, module) in drawing order, and the list outside it."""
    doc = bus.errors.__doc__
    assert doc is not None
    tree_part, outside_part = doc.split(OUTSIDE_HEADING)
    tree = [
        (len(m["indent"]) // 4, m["name"], m["module"])
        for m in map(ENTRY.match, tree_part.splitlines())
        if m
    ]
    outside = [(m["module"], m["name"]) for m in map(ENTRY.match, outside_part.splitlines()) if m]
    return tree, outside


def _class(module: str, name: str) -> type[BaseException]:
    cls = getattr(importlib.import_module(module), name, None)
    assert isinstance(cls, type), f"{module}.{name} is drawn but not defined"
    assert issubclass(cls, BaseException), f"{module}.{name} is not an exception"
    return cls


def test_every_error_of_the_bus_is_drawn_once_where_it_lives() -> None:
    """A new, moved or renamed error class fails here until the drawing names it."""
    tree, outside = _drawings()
    drawn = [(module, name) for _, name, module in tree] + outside
    assert len(drawn) == len(set(drawn)), "an error is drawn twice"
    assert set(drawn) == _defined_errors()


def test_the_drawn_tree_is_the_class_tree() -> None:
    """Each class is drawn under one of its own bases, and all of them under BusError."""
    tree, _ = _drawings()
    assert tree[0] == (0, "BusError", "bus.errors")
    parents: list[type[BaseException]] = []
    for depth, name, module in tree:
        cls = _class(module, name)
        assert depth <= len(parents), f"{name} is indented below no parent"
        del parents[depth:]
        if parents:
            assert parents[-1] in cls.__bases__, f"{name} is drawn under {parents[-1].__name__}"
        parents.append(cls)
    assert all(issubclass(_class(module, name), BusError) for _, name, module in tree)


def test_the_errors_outside_the_tree_are_outside_it() -> None:
    """Those listed as deliberately outside BusError really are."""
    _, outside = _drawings()
    assert outside, "the list of errors outside the tree is missing"
    for module, name in outside:
        assert not issubclass(_class(module, name), BusError), f"{name} is in the tree"


def test_one_class_per_error_name() -> None:
    """No two error classes share a name (as two UnknownEventTypeErrors once did)."""
    names = [name for _, name in _defined_errors()]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
