"""The files panel's operations on a fly Sprite, through the fake Sprites API (its files API
and its exec, as the real one): stat, ranges, streamed reads, zip archives, streamed
uploads, rename, delete; links shown as links and never followed."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sprites.backends import SpriteError
from sprites.backends.fly import FlyBackend
from tests.support.fake_sprites_api import RunningFake
from tests.support.fake_sprites_state import SPRITE_HOME


async def _collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.fixture
async def home(fly_backend: FlyBackend, fake_api: RunningFake) -> Path:
    await fly_backend.create("fly-files")
    return fake_api.state.sprites["fly-files"].host_path(SPRITE_HOME)


async def test_stat_ranges_streams_and_links(fly_backend: FlyBackend, home: Path) -> None:
    data = os.urandom(5 * 1024 * 1024 + 3)
    (home / "src").mkdir()
    (home / "src" / "data.bin").write_bytes(data)
    (home / "passwd").symlink_to("/etc/passwd")
    (home / "up").symlink_to("..")
    entry = await fly_backend.stat_file("fly-files", "src/data.bin")
    assert (entry.path, entry.size, entry.is_dir, entry.is_link) == (
        "src/data.bin", len(data), False, False
    )  # fmt: skip
    assert await fly_backend.read_file_range("fly-files", "src/data.bin", 7, 50) == data[7:57]
    chunks = [chunk async for chunk in fly_backend.stream_file("fly-files", "src/data.bin")]
    assert b"".join(chunks) == data and max(map(len, chunks)) <= 1024 * 1024
    listed = {entry.name: entry for entry in await fly_backend.list_files("fly-files")}
    assert (listed["passwd"].is_link, listed["passwd"].link_target) == (True, "/etc/passwd")
    assert (listed["src"].is_dir, listed["src"].path) == (True, "src")
    assert [e.path for e in await fly_backend.list_files("fly-files", "src")] == ["src/data.bin"]
    link = await fly_backend.stat_file("fly-files", "passwd")
    assert (link.is_link, link.link_target, link.is_dir) == (True, "/etc/passwd", False)
    for attempt in (
        _collect(fly_backend.stream_file("fly-files", "passwd")),
        fly_backend.read_file_range("fly-files", "passwd", 0, 10),
        fly_backend.stat_file("fly-files", "up/etc/passwd"),
        fly_backend.write_file_stream("fly-files", "passwd", _chunks(b"x"), 10),
        fly_backend.write_file_stream("fly-files", "up/planted", _chunks(b"x"), 10),
        _collect(fly_backend.stream_archive("fly-files", "up")),
    ):
        with pytest.raises(SpriteError):
            await attempt
    assert not (home.parent / "planted").exists()
    with pytest.raises(SpriteError) as missing:
        await fly_backend.stat_file("fly-files", "nothing")
    assert missing.value.path_problem == "missing"


async def test_archive_upload_rename_delete(fly_backend: FlyBackend, home: Path) -> None:
    (home / "deep" / "er").mkdir(parents=True)
    (home / "deep" / "er" / "b.txt").write_bytes(b"bee")
    (home / "passwd").symlink_to("/etc/passwd")
    archive = await _collect(fly_backend.stream_archive("fly-files"))
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        assert zf.read("deep/er/b.txt") == b"bee"
        assert stat.S_ISLNK(zf.getinfo("passwd").external_attr >> 16)
        assert zf.read("passwd") == b"/etc/passwd"
    big = os.urandom(9 * 1024 * 1024)
    entry = await fly_backend.write_file_stream(
        "fly-files", "in/up.bin", _chunks(big[:5_000_000], big[5_000_000:]), 20 * 1024 * 1024
    )
    assert entry.size == len(big) and (home / "in" / "up.bin").read_bytes() == big
    with pytest.raises(SpriteError):
        await fly_backend.write_file_stream("fly-files", "in/up.bin", _chunks(b"x" * 100), 10)
    assert (home / "in" / "up.bin").read_bytes() == big
    assert sorted(p.name for p in (home / "in").iterdir()) == ["up.bin"]
    await fly_backend.rename_file("fly-files", "in/up.bin", "moved/up.bin")
    assert (home / "moved" / "up.bin").exists()
    (home / "other").write_text("o")
    with pytest.raises(SpriteError, match="already exists"):
        await fly_backend.rename_file("fly-files", "other", "moved/up.bin")
    await fly_backend.delete_file("fly-files", "passwd")
    assert not (home / "passwd").is_symlink() and Path("/etc/passwd").exists()
    await fly_backend.delete_file("fly-files", "moved")
    assert not (home / "moved").exists()
    with pytest.raises(SpriteError):
        await fly_backend.delete_file("fly-files", ".")
