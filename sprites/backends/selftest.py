"""``sprites selftest``: prove a backend works end to end with a throwaway Sprite."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

from sprites.backends.base import SpriteBackend, SpriteError


async def run_selftest(backend: SpriteBackend, name: str | None = None) -> AsyncIterator[str]:
    """Yield one line per step that passed; raise ``SpriteError`` at the first failure.

    The throwaway Sprite is destroyed at the end, and also after a failure.
    """
    name = name or f"selftest-{secrets.token_hex(4)}"
    payload = f"selftest {secrets.token_hex(8)}\n".encode()
    try:
        status = await backend.create(name)
        if status.state == "missing":
            raise SpriteError(f"create: Sprite {name} does not exist after creation")
        if backend.kind == "local":
            # A local Sprite runs commands through its bridge, inside its sandbox.
            status = await backend.bootstrap(name, secrets.token_urlsafe(24), {})
        yield f"ok   create {name} ({backend.kind}): {status.state}"
        result = await backend.exec(name, ["echo", "hello from the sprite"], timeout=120)
        if result.exit_code != 0 or result.stdout.strip() != b"hello from the sprite":
            raise SpriteError(
                f"exec: echo exited {result.exit_code} with {result.stdout[:200]!r}"
                f" {result.stderr[:200]!r}"
            )
        yield "ok   exec echo"
        await backend.write_file(name, "selftest/file.txt", payload)
        if await backend.read_file(name, "selftest/file.txt") != payload:
            raise SpriteError("read_file: the content read differs from the content written")
        yield "ok   write and read a file"
        checkpoint = await backend.create_checkpoint(name, "selftest")
        listed = [item.id for item in await backend.list_checkpoints(name)]
        if checkpoint.id not in listed:
            raise SpriteError(f"list_checkpoints: {checkpoint.id} missing from {listed}")
        yield f"ok   create and list checkpoint {checkpoint.id}"
    finally:
        await backend.destroy(name)
    if (await backend.status(name)).state != "missing":
        raise SpriteError(f"destroy: Sprite {name} still exists")
    yield f"ok   destroy {name}"
