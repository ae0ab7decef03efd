"""Strict Sprites get host uids no other Sprite on the machine holds, whichever data
directory (control plane, test stack) made them: a uid is a Sprite's whole separation."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sprites.backends import SpriteError
from sprites.backends.local import LocalBackend
from sprites.backends.sandbox import FIRST_SPRITE_UID, LAST_SPRITE_UID
from sprites.backends.sprite_uids import UidRegistry


@pytest.fixture
def registry_dir(tmp_path: Path) -> Path:
    return tmp_path / "sprite-uids"


@pytest.fixture
def two_data_dirs() -> Iterator[tuple[Path, Path]]:
    with (
        tempfile.TemporaryDirectory(prefix="uids-a-") as first,
        tempfile.TemporaryDirectory(prefix="uids-b-") as second,
    ):
        yield Path(first), Path(second)


async def test_sprites_of_two_data_directories_never_share_a_uid(
    two_data_dirs: tuple[Path, Path], registry_dir: Path
) -> None:
    # Before, each data directory counted from the first uid: both Sprites got 200000.
    backends = [LocalBackend(d, uid_registry=registry_dir) for d in two_data_dirs]
    try:
        for backend in backends:
            await backend.create("sprite-one")
        uids = [backend.uid("sprite-one") for backend in backends]
        assert uids[0] != uids[1]
        assert all(FIRST_SPRITE_UID <= uid <= LAST_SPRITE_UID for uid in uids if uid)
        # Asking again gives the Sprite the uid it has.
        assert backends[0].uid("sprite-one") == uids[0]
    finally:
        for backend in backends:
            await backend.destroy("sprite-one")


async def test_a_destroyed_sprites_uid_is_free_but_not_handed_out_next(
    two_data_dirs: tuple[Path, Path], registry_dir: Path
) -> None:
    backend = LocalBackend(two_data_dirs[0], uid_registry=registry_dir)
    await backend.create("short-lived")
    uid = backend.uid("short-lived")
    assert uid is not None
    registry = UidRegistry(FIRST_SPRITE_UID, LAST_SPRITE_UID, registry_dir)
    assert registry.holder(uid) is not None
    await backend.destroy("short-lived")
    assert registry.holder(uid) is None
    await backend.create("next-one")
    try:
        assert backend.uid("next-one") != uid
    finally:
        await backend.destroy("next-one")


async def test_a_sprite_made_before_the_registry_keeps_its_uid_and_no_one_else_gets_it(
    two_data_dirs: tuple[Path, Path], registry_dir: Path
) -> None:
    old = LocalBackend(two_data_dirs[0], uid_registry=registry_dir)
    # What the per-directory counter gave every first Sprite, written as it did, before the
    # registry existed: the registry would hand out the same uid next.
    legacy_uid = FIRST_SPRITE_UID
    (old.sprite_dir("legacy") / "run").mkdir(parents=True)
    (old.sprite_dir("legacy") / "run" / "uid").write_text(str(legacy_uid))
    await old.create("legacy")
    assert old.uid("legacy") == legacy_uid  # kept, and adopted into the registry
    other = LocalBackend(two_data_dirs[1], uid_registry=registry_dir)
    await other.create("newcomer")
    try:
        assert other.uid("newcomer") != legacy_uid
    finally:
        await other.destroy("newcomer")
        await old.destroy("legacy")


def test_the_registry_skips_held_uids_and_says_when_the_range_is_used_up(
    registry_dir: Path,
) -> None:
    registry = UidRegistry(500_000, 500_002, registry_dir)
    registry.adopt(500_000, "/elsewhere/held")
    assert registry.claim("/a/one") == 500_001
    assert registry.claim("/a/two") == 500_002
    with pytest.raises(SpriteError, match="run out of Sprite uids"):
        registry.claim("/a/three")
    registry.release(500_001, "/someone/else")  # not theirs: nothing changes
    assert registry.holder(500_001) == "/a/one"
    registry.release(500_001, "/a/one")
    assert registry.claim("/a/four") == 500_001
