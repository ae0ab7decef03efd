"""The layout's import contracts (pyproject.toml [tool.importlinter]) hold, and would catch a
break: each test copies the tree, adds one import the layout forbids, and expects a failure."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "projects",
    "accounts",
    "sprites",
    "bridge_agent",
    "starter",
    "gateway",
    "organisations",
)
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_import(tree: Path, module_file: str, statement: str) -> None:
    path = tree / module_file
    path.write_text(path.read_text() + f"\n{statement}  # noqa\n")


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_copied_tree_keeps_every_contract(tree_copy: Path) -> None:
    # The control for the tests below: the copy alone is not what breaks them.
    result = lint_imports(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module_file", "statement", "contract"),
    [
        (
            "projects/lifecycle/steps.py",
            "import projects.dashboard.pages",
            "The domain never imports an entry point",
        ),
        (
            "projects/sprite/files.py",
            "from projects.api import schemas",
            "The domain never imports an entry point",
        ),
        (
            "projects/bridge/client.py",
            "import projects.relay.feed",
            "The domain never imports an entry point",
        ),
        (
            "bridge_agent/sessions.py",
            "import django.conf",
            "The Sprite side never imports Django",
        ),
        (
            "sprites/backends/local.py",
            "import projects.models",
            "The Sprite side never imports Django",
        ),
        (
            "projects/api/agent.py",
            "import projects.dashboard.http",
            "The entry points stand side by side",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tree_copy: Path, module_file: str, statement: str, contract: str
) -> None:
    add_import(tree_copy, module_file, statement)
    result = lint_imports(tree_copy)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(line.startswith(contract) for line in broken), result.stdout
