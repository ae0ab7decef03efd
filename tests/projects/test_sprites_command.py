"""`manage.py sprites selftest|list` against the configured backend."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sprites.conftest import FAKE_IMAGE_PATH, FAKE_TOKEN
from tests.support.fake_sprites_api import running_fake_sprites_api
from tests.support.live_stack import ROOT


def _manage(*args: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_selftest_passes_against_the_fake_sprites_api(tmp_path: Path) -> None:
    with running_fake_sprites_api(
        tmp_path / "fake", FAKE_TOKEN, extra_path=FAKE_IMAGE_PATH
    ) as fake:
        environment = dict(
            os.environ,
            STARTER_SPRITES_BACKEND="fly",
            STARTER_SPRITES_API_URL=fake.base_url,
            STARTER_SPRITES_TOKEN=FAKE_TOKEN,
            STARTER_DATA_DIR=str(tmp_path),
        )
        result = _manage("sprites", "selftest", environment=environment)
        assert result.returncode == 0, result.stdout + result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == "backend: fly"
        for step in ("create", "exec echo", "write and read a file", "checkpoint"):
            assert any(step in line and line.startswith("ok") for line in lines), lines
        assert lines[-1] == "selftest passed"
        assert list((tmp_path / "fake").glob("sprites/selftest-*")) == []  # destroyed


def test_selftest_fails_with_a_clear_message_on_a_bad_token(tmp_path: Path) -> None:
    with running_fake_sprites_api(
        tmp_path / "fake", FAKE_TOKEN, extra_path=FAKE_IMAGE_PATH
    ) as fake:
        environment = dict(
            os.environ,
            STARTER_SPRITES_BACKEND="fly",
            STARTER_SPRITES_API_URL=fake.base_url,
            STARTER_SPRITES_TOKEN="org/1/wrong",
            STARTER_DATA_DIR=str(tmp_path),
        )
        result = _manage("sprites", "selftest", environment=environment)
    assert result.returncode != 0
    assert "FAIL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.django_db(transaction=True)
def test_selftest_and_list_on_the_local_backend_flag_orphans(sprite_data_dir: Path) -> None:
    from django.conf import settings

    environment = dict(
        os.environ,
        STARTER_SPRITES_BACKEND="local",
        STARTER_DATA_DIR=str(sprite_data_dir),
        DATABASE_URL=settings.DATABASE_URL.rsplit("/", 1)[0]
        + "/"
        + str(settings.DATABASES["default"]["NAME"]),
        STARTER_ENCRYPTION_KEYS=",".join(settings.ENCRYPTION_KEYS),
    )
    assert _manage("sprites", "selftest", environment=environment).returncode == 0
    (sprite_data_dir / "sprites" / "starter-orphan" / "home").mkdir(parents=True)
    listing = _manage("sprites", "list", environment=environment)
    assert listing.returncode == 0, listing.stderr
    assert "starter-orphan" in listing.stdout and "ORPHAN" in listing.stdout
    assert "1 orphan(s)" in listing.stdout
