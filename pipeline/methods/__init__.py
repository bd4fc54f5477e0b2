"""Pruning methods, one file each: a module of this package that defines `SPEC` (a
`pipeline.methods.spec.MethodSpec`) is the method `SPEC.name`. Adding a method is adding a
file here; nothing else names it (see docs/ARCHITECTURE.md)."""

from __future__ import annotations

import importlib
import pkgutil

from pipeline.methods.spec import MethodSpec, Option

__all__ = ["METHODS", "MethodSpec", "Option", "method_options"]


def _discover() -> dict[str, MethodSpec]:
    found: dict[str, MethodSpec] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name == "spec" or info.name.startswith("_"):
            continue
        spec = getattr(importlib.import_module(f"{__name__}.{info.name}"), "SPEC", None)
        if not isinstance(spec, MethodSpec):
            raise TypeError(f"{__name__}.{info.name} defines no SPEC = MethodSpec(...)")
        if spec.name in found:
            raise TypeError(f"two methods are named {spec.name!r}")
        found[spec.name] = spec
    return found


METHODS: dict[str, MethodSpec] = _discover()


def method_options() -> dict[str, Option]:
    """Every method's options by key; an option declared by several methods must be declared
    alike (it is one `prune.*` key)."""
    options: dict[str, Option] = {}
    for spec in METHODS.values():
        for option in spec.options:
            known = options.setdefault(option.name, option)
            if known != option:
                raise TypeError(f"prune.{option.name} is declared differently by two methods")
    return options
