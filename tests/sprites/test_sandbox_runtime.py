"""A checkout where other users cannot enter still gives Sprites their runtime."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sprites.backends import processes, sandbox
from sprites.backends.local import PROJECT_ROOT, LocalBackend

# Skipped on a developer's machine without strict isolation, saying why; never in CI.
pytestmark = pytest.mark.skipif(
    sandbox.isolation_problem("strict") is not None and os.environ.get("CI") != "true",
    reason=f"strict isolation unavailable here: {sandbox.isolation_problem('strict')}",
)


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="runtime-copies-"))
    directory.chmod(0o755)
    monkeypatch.setattr(sandbox, "RUNTIME_COPIES", directory / "copies")
    sandbox.reachable_copy.cache_clear()
    yield directory
    sandbox.reachable_copy.cache_clear()
    shutil.rmtree(directory, ignore_errors=True)


def test_a_path_under_a_closed_directory_gets_a_reachable_copy(copies: Path) -> None:
    closed = Path(tempfile.mkdtemp(prefix="closed-"))  # 0700, like /root
    try:
        (closed / "code").mkdir()
        (closed / "code" / "module.py").write_text("VALUE = 1\n")
        assert sandbox.blocking_ancestor(closed / "code") == closed
        copy = sandbox.reachable_copy(closed / "code")
        assert copy != closed / "code" and sandbox.reachable_by_others(copy)
        assert (copy / "module.py").read_text() == "VALUE = 1\n"
        runtime = PROJECT_ROOT / "bridge_agent"
        if sandbox.blocking_ancestor(runtime) is None:  # a checkout others may enter
            assert sandbox.reachable_copy(runtime) == runtime
    finally:
        shutil.rmtree(closed)


async def test_a_bridge_in_a_closed_checkout_starts_and_the_checkout_stays_hidden(
    copies: Path, data_dir: Path
) -> None:
    closed = Path(tempfile.mkdtemp(prefix="closed-checkout-"))
    shutil.copytree(PROJECT_ROOT / "bridge_agent", closed / "bridge_agent")
    (closed / "settings.py").write_text("SECRET = 'checkout-secret'\n")
    backend = LocalBackend(data_dir, bridge_path=closed, bridge_arguments=["--no-prewarm"])
    try:
        status = await backend.bootstrap("alpha", "token", {})
        assert status.state == "running"
        result = await backend.exec("alpha", f"cat {closed}/settings.py; ls {closed}", timeout=10)
        assert b"checkout-secret" not in result.stdout
    finally:
        await backend.destroy("alpha")
        processes.reap_started()
        shutil.rmtree(closed)
