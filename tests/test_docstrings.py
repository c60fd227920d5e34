"""Every public module, function, class and method in scope says what it is for.

A newcomer reads the code through ``help()`` and the docstrings; an object
without one makes them read its body instead. "Public" means: no leading
underscore in its name (nor in its module's path), and defined in the module
that is walked (re-exports are checked where they are defined).

Docstrings are read from the source, not from ``__doc__``: a dataclass or a
NamedTuple without a docstring gets an automatic ``__doc__`` (its signature),
which says nothing about why it exists.

Scope: ``CHECKED`` lists the packages or modules held to the rule; a package
that is in no list fails the test, so a new stage cannot slip past it.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import pkgutil
import textwrap

ROOT = "earlywarn"
CHECKED = [
    "earlywarn",  # the package itself and its shared helpers (config, schema, manifest, atomic, progress, ...)
    "earlywarn.ingest",
    "earlywarn.geo",
    "earlywarn.features",
    "earlywarn.publish",
    "earlywarn.brief",
    "earlywarn.synth",
    "earlywarn.commands",
    "earlywarn.actions",
    "earlywarn.assessments",
    "earlywarn.model",
    "earlywarn.decide",
    "earlywarn.pipeline",
]
PENDING: list[str] = []  # packages still being documented (reported, not failed)


def _modules() -> list[str]:
    pkg = importlib.import_module(ROOT)
    names = [ROOT] + [m.name for m in pkgutil.walk_packages(pkg.__path__, ROOT + ".")]
    return [n for n in names if not any(part.startswith("_") for part in n.split("."))]


def _owner(module: str, scope: list[str]) -> str | None:
    """The most specific entry of ``scope`` that covers ``module`` (an exact module or a package prefix)."""
    hits = [s for s in scope if module == s or module.startswith(s + ".")]
    return max(hits, key=len) if hits else None


def _in(module: str, scope: list[str]) -> bool:
    mine, other = _owner(module, scope), _owner(module, CHECKED + PENDING)
    return mine is not None and mine == other


@functools.cache
def _source_docs(module: str) -> dict[str, str | None]:
    """Qualified name -> docstring of every function and class in the module's source (methods as ``Cls.meth``)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(importlib.import_module(module))))
    out: dict[str, str | None] = {}

    def walk(body, prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                out.setdefault(prefix + node.name, ast.get_docstring(node))
                if isinstance(node, ast.ClassDef):
                    walk(node.body, prefix + node.name + ".")

    walk(tree.body, "")
    return out


def _has_doc(module: str, qualname: str) -> bool:
    return bool((_source_docs(module).get(qualname) or "").strip())


def _is_function(obj) -> bool:
    """A plain function, also behind a decorator that keeps ``__wrapped__`` (``functools.cache``, ``wraps``)."""
    try:
        return inspect.isfunction(inspect.unwrap(obj))
    except ValueError:  # a __wrapped__ cycle
        return False


def _method_function(member):
    """The function behind a class attribute: property getter, static/class method, cached property."""
    if isinstance(member, property):
        return member.fget
    if isinstance(member, functools.cached_property):
        return member.func
    return getattr(member, "__func__", member)


def missing_docstrings(scope: list[str]) -> list[str]:
    """``module[:qualname]`` of every public module, function, class or method in ``scope`` without a docstring."""
    missing = []
    for name in _modules():
        if not _in(name, scope):
            continue
        mod = importlib.import_module(name)
        if not (mod.__doc__ or "").strip():
            missing.append(name)
        for attr, obj in vars(mod).items():
            if attr.startswith("_") or not (_is_function(obj) or inspect.isclass(obj)):
                continue
            if getattr(obj, "__module__", None) != name:
                continue  # imported from elsewhere: checked in its own module
            if not _has_doc(name, attr):
                missing.append(f"{name}:{attr}")
            if inspect.isclass(obj):
                for meth, member in vars(obj).items():
                    if meth.startswith("_"):
                        continue
                    if _is_function(_method_function(member)) and not _has_doc(name, f"{attr}.{meth}"):
                        missing.append(f"{name}:{attr}.{meth}")
    return missing


def test_public_objects_have_docstrings():
    missing = missing_docstrings(CHECKED)
    assert not missing, f"{len(missing)} public object(s) without a docstring:\n  " + "\n  ".join(missing)


def test_scope_covers_every_module():
    """A new package must be put in CHECKED or PENDING, so nothing is left out of the rule silently."""
    assert [m for m in _modules() if _owner(m, CHECKED + PENDING) is None] == []
