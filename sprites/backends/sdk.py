"""Import sprites-py under a private name.

The SDK's import name is ``sprites``, which is also the name of our Django app, and
whichever comes first on ``sys.path`` hides the other. In the control plane the project
root comes first, so ``import sprites`` is the app. This module loads the SDK's own files
as the package ``starter_sprites_sdk``, rewriting the handful of absolute
``from sprites.x import`` lines in its sources, so both live side by side and the SDK
code that runs is otherwise exactly the installed sprites-py.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

SDK_ALIAS = "starter_sprites_sdk"
SDK_DISTRIBUTION = "sprites-py"

_ABSOLUTE_IMPORT = re.compile(r"^(\s*)(from|import)\s+sprites(?=[.\s])", re.MULTILINE)


def sdk_directory() -> Path:
    """The folder of the installed sprites-py package (its ``__init__.py`` lives there)."""
    distribution = importlib.metadata.distribution(SDK_DISTRIBUTION)
    init_file = Path(str(distribution.locate_file("sprites/__init__.py")))
    if not init_file.is_file():
        raise ImportError(f"{SDK_DISTRIBUTION} is installed but {init_file} is missing")
    return init_file.parent


class _RenamingLoader(importlib.machinery.SourceFileLoader):
    def get_data(self, path: str) -> bytes:
        data = super().get_data(path)
        if not path.endswith(".py"):
            return data
        source = data.decode("utf-8")
        return _ABSOLUTE_IMPORT.sub(rf"\1\2 {SDK_ALIAS}", source).encode("utf-8")

    def path_stats(self, path: str) -> dict[str, Any]:
        # Bytecode caches are keyed by path and mtime; ours differ from the SDK's own,
        # so never reuse them.
        raise OSError("no bytecode cache for the renamed SDK")


class _SdkFinder(importlib.abc.MetaPathFinder):
    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != SDK_ALIAS and not fullname.startswith(SDK_ALIAS + "."):
            return None
        relative = fullname[len(SDK_ALIAS) :].lstrip(".").replace(".", "/")
        if not relative:
            file = self._directory / "__init__.py"
            return importlib.util.spec_from_file_location(
                fullname,
                file,
                loader=_RenamingLoader(fullname, str(file)),
                submodule_search_locations=[],
            )
        file = self._directory / f"{relative}.py"
        if not file.is_file():
            return None
        return importlib.util.spec_from_file_location(
            fullname, file, loader=_RenamingLoader(fullname, str(file))
        )


def load_sdk() -> ModuleType:
    """Return the sprites-py package (imported once, under ``starter_sprites_sdk``)."""
    if SDK_ALIAS in sys.modules:
        return sys.modules[SDK_ALIAS]
    directory = sdk_directory()
    if not any(isinstance(finder, _SdkFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SdkFinder(directory))
    return importlib.import_module(SDK_ALIAS)


def load_sdk_module(name: str) -> ModuleType:
    """A submodule of the SDK, e.g. ``load_sdk_module("exceptions")``."""
    load_sdk()
    return importlib.import_module(f"{SDK_ALIAS}.{name}")
