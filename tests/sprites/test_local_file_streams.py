"""A person's file operations on a local Sprite (issue 17): stat, ranges, streamed reads,
zip archives made as they are sent, streamed uploads, rename and delete, all beneath the
home, as the Sprite's uid, never following a link the Sprite planted."""

from __future__ import annotations

import contextlib
import io
import os
import stat
import threading
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sprites.backends import SpriteError, sandbox
from sprites.backends.beneath_streams import SKIPPED_NOTE
from sprites.backends.local import LocalBackend

# Skipped only on a machine without the strict sandbox (bubblewrap, passt, nftables, root),
# as the other sandbox tests are; never in CI, where a missing sandbox fails them instead.
pytestmark = pytest.mark.skipif(
    sandbox.isolation_problem("strict") is not None and os.environ.get("CI") != "true",
    reason=f"strict isolation unavailable here: {sandbox.isolation_problem('strict')}",
)


@pytest.fixture
async def sprites(local_backend: LocalBackend) -> LocalBackend:
    # Files need no bridge: a created Sprite has its home and its uid.
    await local_backend.create("owner")
    await local_backend.create("neighbour")
    return local_backend


async def _collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _as_sprite(backend: LocalBackend, name: str, path: Path) -> None:
    uid = backend.uid(name)
    assert uid is not None
    os.lchown(path, uid, uid)


async def test_stat_ranges_and_streams(sprites: LocalBackend) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    await sprites.write_file("owner", "src/data.bin", data)
    entry = await sprites.stat_file("owner", "src/data.bin")
    assert (entry.name, entry.path, entry.size, entry.is_dir, entry.is_link) == (
        "data.bin", "src/data.bin", len(data), False, False
    )  # fmt: skip
    assert (await sprites.stat_file("owner", "src")).is_dir
    assert await sprites.read_file_range("owner", "src/data.bin", 10, 100) == data[10:110]
    assert await sprites.read_file_range("owner", "src/data.bin", len(data) - 5, 100) == data[-5:]
    chunks = [chunk async for chunk in sprites.stream_file("owner", "src/data.bin")]
    assert b"".join(chunks) == data
    assert max(len(chunk) for chunk in chunks) <= 1024 * 1024
    with pytest.raises(SpriteError) as missing:
        await sprites.stat_file("owner", "nothing-here")
    assert missing.value.path_problem == "missing"
    with pytest.raises(SpriteError) as folder:
        await _collect(sprites.stream_file("owner", "src"))
    assert folder.value.path_problem == "refused"


async def test_links_are_reported_and_never_followed(sprites: LocalBackend) -> None:
    home = sprites.home("owner")
    neighbour_home = sprites.home("neighbour")
    await sprites.write_file("neighbour", "secret.txt", b"neighbour's secret")
    await sprites.write_file("owner", "inside.txt", b"inside")
    links = {
        "passwd": "/etc/passwd",
        "neighbour": str(neighbour_home / "secret.txt"),
        "up": "../../..",
        "inner": "inside.txt",  # even a link that stays in the home is not followed
        "dir-link": str(neighbour_home),
    }
    for link, target in links.items():
        (home / link).symlink_to(target)
        _as_sprite(sprites, "owner", home / link)
    listed = {entry.name: entry for entry in await sprites.list_files("owner")}
    for link, target in links.items():
        assert (listed[link].is_link, listed[link].link_target, listed[link].is_dir) == (
            True, target, False
        )  # fmt: skip
        entry = await sprites.stat_file("owner", link)
        assert (entry.is_link, entry.link_target) == (True, target)
        attempts = [
            _collect(sprites.stream_file("owner", link)),
            sprites.read_file_range("owner", link, 0, 100),
            sprites.stat_file("owner", f"{link}/secret.txt"),
            sprites.write_file_stream("owner", link, _chunks(b"overwritten"), 100),
            sprites.write_file_stream("owner", f"{link}/x", _chunks(b"planted"), 100),
        ]
        for attempt in attempts:
            with pytest.raises(SpriteError):
                await attempt
    assert (neighbour_home / "secret.txt").read_bytes() == b"neighbour's secret"
    assert not (neighbour_home / "x").exists()
    assert Path("/etc/passwd").read_bytes() != b"overwritten"
    # Deleting a link removes the link, never what it points to.
    await sprites.delete_file("owner", "neighbour")
    await sprites.delete_file("owner", "inner")
    assert (neighbour_home / "secret.txt").exists() and (home / "inside.txt").exists()
    assert not (home / "neighbour").is_symlink()
    # A rename cannot go through a link either.
    with pytest.raises(SpriteError):
        await sprites.rename_file("owner", "inside.txt", "dir-link/stolen.txt")
    assert not (neighbour_home / "stolen.txt").exists()


async def test_the_archive_stores_links_as_links_and_skips_what_it_cannot_read(
    sprites: LocalBackend,
) -> None:
    home = sprites.home("owner")
    await sprites.write_file("owner", "a.txt", b"alpha")
    await sprites.write_file("owner", "deep/er/b.bin", os.urandom(2 * 1024 * 1024))
    await sprites.write_file("owner", ".hidden", b"h")
    (home / "passwd").symlink_to("/etc/passwd")
    _as_sprite(sprites, "owner", home / "passwd")
    (home / "etc").symlink_to("/etc")
    _as_sprite(sprites, "owner", home / "etc")
    # Root's own file in the home, unreadable by the Sprite: skipped with a note.
    (home / "rootonly").write_bytes(b"root")
    (home / "rootonly").chmod(0o600)
    archive = await _collect(sprites.stream_archive("owner", "."))
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        names = set(zf.namelist())
        assert {"a.txt", "deep/er/b.bin", ".hidden", "passwd", "etc", SKIPPED_NOTE} <= names
        assert not any(name.startswith("etc/") for name in names)
        assert zf.read("a.txt") == b"alpha"
        assert zf.read("deep/er/b.bin") == (home / "deep/er/b.bin").read_bytes()
        link = zf.getinfo("passwd")
        assert stat.S_ISLNK(link.external_attr >> 16)
        assert zf.read("passwd") == b"/etc/passwd"
        assert "rootonly" in zf.read(SKIPPED_NOTE).decode()
        assert "rootonly" not in names
    folder = await _collect(sprites.stream_archive("owner", "deep"))
    with zipfile.ZipFile(io.BytesIO(folder)) as zf:
        assert "er/b.bin" in zf.namelist()
    with pytest.raises(SpriteError):
        await _collect(sprites.stream_archive("owner", "etc"))


async def test_uploads_rename_and_delete(sprites: LocalBackend) -> None:
    home = sprites.home("owner")
    entry = await sprites.write_file_stream(
        "owner", "up/new.bin", _chunks(b"a" * 1000, b"b" * 1000), 10_000
    )
    assert (entry.size, (home / "up/new.bin").read_bytes()) == (2000, b"a" * 1000 + b"b" * 1000)
    assert (home / "up/new.bin").stat().st_uid == sprites.uid("owner")
    with pytest.raises(SpriteError):
        await sprites.write_file_stream("owner", "up/new.bin", _chunks(b"x" * 20_000), 10_000)
    # The old file stays whole and no temporary file is left behind.
    assert (home / "up/new.bin").read_bytes()[:1] == b"a"
    assert sorted(p.name for p in (home / "up").iterdir()) == ["new.bin"]
    await sprites.write_file("owner", "other.txt", b"other")
    with pytest.raises(SpriteError) as exists:
        await sprites.rename_file("owner", "other.txt", "up/new.bin")
    assert "already exists" in exists.value.message
    await sprites.rename_file("owner", "other.txt", "moved/other.txt")
    assert (home / "moved/other.txt").read_bytes() == b"other"
    with pytest.raises(SpriteError) as missing:
        await sprites.rename_file("owner", "nope", "nope2")
    assert missing.value.path_problem == "missing"
    await sprites.delete_file("owner", "up")
    assert not (home / "up").exists()
    with pytest.raises(SpriteError):
        await sprites.delete_file("owner", ".")


def _swapper(home: Path, stop: threading.Event) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    a, b = str(home / "d").encode(), str(home / "swap").encode()
    while not stop.is_set():
        libc.renameat2(-100, a, -100, b, 2)


async def test_a_symlink_race_never_escapes(sprites: LocalBackend, data_dir: Path) -> None:
    home = sprites.home("owner")
    (data_dir / "secret_key").write_text("control-plane-secret-key")
    (home / "d").mkdir()
    (home / "d" / "secret_key").write_text("harmless")
    (home / "swap").symlink_to(data_dir)
    for attempt in range(200):
        (data_dir / f"victim-{attempt}").write_text("keep")
    for path in (home / "d", home / "d" / "secret_key", home / "swap"):
        _as_sprite(sprites, "owner", path)
    stop = threading.Event()
    thread = threading.Thread(target=_swapper, args=(home, stop), daemon=True)
    thread.start()
    leaked = 0
    try:
        for attempt in range(200):
            with contextlib.suppress(SpriteError):
                if b"control-plane" in await _collect(sprites.stream_file("owner", "d/secret_key")):
                    leaked += 1
            with contextlib.suppress(SpriteError):
                if b"control" in await sprites.read_file_range("owner", "d/secret_key", 0, 64):
                    leaked += 1
            with contextlib.suppress(SpriteError):
                await sprites.write_file_stream("owner", f"d/planted-{attempt}", _chunks(b"x"), 10)
            with contextlib.suppress(SpriteError):
                if b"control-plane" in await _collect(sprites.stream_archive("owner", "d")):
                    leaked += 1
            with contextlib.suppress(SpriteError):
                # Moving the control plane's key into the home would be an escape too.
                await sprites.rename_file("owner", "d/secret_key", f"stolen-{attempt}")
            with contextlib.suppress(SpriteError):
                # Only the control plane's folder has victim-N: deleting it would be an escape.
                await sprites.delete_file("owner", f"d/victim-{attempt}")
    finally:
        stop.set()
        thread.join()
    assert (leaked, len(list(data_dir.glob("planted-*")))) == (0, 0)
    assert (data_dir / "secret_key").read_text() == "control-plane-secret-key"
    assert len(list(data_dir.glob("victim-*"))) == 200
    assert all(b"control" not in path.read_bytes() for path in home.glob("stolen-*"))
