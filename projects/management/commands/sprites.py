"""Operator tool for Sprites: `sprites selftest` and `sprites list`.

selftest proves the configured backend works end to end with a throwaway Sprite (one line
per step, non-zero exit on the first failure); list shows every Sprite the backend knows
with its project and status, and flags orphans (Sprites no live project owns).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from projects.models import Project, Status
from projects.sprite.backend import configured_backend
from sprites.backends import SpriteBackend, SpriteError, run_sync
from sprites.backends.selftest import run_selftest


class Command(BaseCommand):
    help = "Check and inspect the configured Sprite backend (selftest | list)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["selftest", "list"])

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            backend = configured_backend()
        except SpriteError as error:  # e.g. the fly backend without a token
            raise CommandError(error.message) from error
        self.stdout.write(f"backend: {backend.kind}")
        if options["action"] == "selftest":
            self._selftest(backend)
        else:
            self._list(backend)

    def _selftest(self, backend: SpriteBackend) -> None:
        async def steps() -> None:
            async for line in run_selftest(backend):
                self.stdout.write(line)
                self.stdout.flush()

        try:
            run_sync(steps())
        except SpriteError as error:
            raise CommandError(f"FAIL {error.message}") from error
        self.stdout.write("selftest passed")

    def _list(self, backend: SpriteBackend) -> None:
        try:
            sprites = run_sync(backend.list_sprites())
        except SpriteError as error:
            raise CommandError(error.message) from error
        owners = {
            project.sprite_name: project
            for project in Project.objects.exclude(status=Status.DESTROYED)
            .exclude(sprite_name="")
            .select_related("owner")
        }
        self.stdout.write(f"{'SPRITE':40} {'STATE':10} {'PROJECT':30} OWNER")
        orphans = 0
        for info in sorted(sprites, key=lambda item: item.name):
            project = owners.get(info.name)
            if project is None:
                orphans += 1
                label, owner = "ORPHAN (no live project)", "-"
            else:
                label, owner = f"{project.name[:20]} ({project.status})", project.owner.email
            self.stdout.write(f"{info.name:40} {info.state:10} {label:30} {owner}")
        missing = sorted(set(owners) - {info.name for info in sprites})
        for name in missing:
            self.stdout.write(
                f"{name:40} {'missing':10} {owners[name].name[:30]:30} {owners[name].owner.email}"
            )
        self.stdout.write(
            f"{len(sprites)} Sprite(s), {orphans} orphan(s), "
            f"{len(missing)} project(s) whose Sprite is missing"
        )
