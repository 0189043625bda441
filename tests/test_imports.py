"""Every module of the package imports (a module only a rare path reaches cannot hide a broken import)."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import predictml_desktop

ROOT = Path(predictml_desktop.__file__).parent


def _modules() -> list[str]:
    found = [m.name for m in pkgutil.walk_packages([str(ROOT)], prefix="predictml_desktop.")]
    return ["predictml_desktop", *sorted(found)]


def test_every_source_file_is_a_module_found_here() -> None:
    files = {".".join(("predictml_desktop", *p.relative_to(ROOT).with_suffix("").parts)).removesuffix(".__init__")
             for p in ROOT.rglob("*.py")}
    assert files == set(_modules())


@pytest.mark.parametrize("name", _modules())
def test_module_imports(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__name__ == name
