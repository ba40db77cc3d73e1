"""A small timm-style registry: ``@registry.register(name)`` and ``registry.create(name, **kw)``.

Each registry reads one or more modules or packages; every module of a package is imported on first
use, so adding an entry is one new file and no edits elsewhere.
"""
from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Named factories of one kind (architectures, datasets, certifiers, ...)."""

    def __init__(self, kind: str, *packages: str):
        self.kind = kind
        self.packages = packages  # modules, or packages whose every module registers entries
        self._factories: dict[str, Callable[..., T]] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories and self._factories[name] is not factory:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._factories[name] = factory
            return factory

        return decorator

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for name in self.packages:
                package = importlib.import_module(name)
                for module in pkgutil.iter_modules(getattr(package, "__path__", [])):
                    importlib.import_module(f"{name}.{module.name}")

    def remove(self, name: str) -> None:
        """Forget `name` (a test's temporary entry)."""
        self._factories.pop(name, None)

    def names(self) -> list[str]:
        self._load()
        return sorted(self._factories)

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._factories

    def get(self, name: str) -> Callable[..., T]:
        self._load()
        if name not in self._factories:
            close = difflib.get_close_matches(name, self._factories, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise KeyError(
                f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(self.names())}."
            )
        return self._factories[name]

    def create(self, name: str, **kwargs: Any) -> T:
        return self.get(name)(**kwargs)
