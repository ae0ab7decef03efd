"""Escapes tried from inside a local Sprite, as its agent would run them: every one must fail.

Each Sprite runs in the strict sandbox (its own uid, namespaces, seccomp, network through
pasta). The commands go through ``exec``, which runs them in the bridge's sandbox, the
same one the agent's tools run in. The last tests show the Sprite still reaches the
world: a test host in a network namespace this test makes, standing in for the internet.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sprites.backends import SpriteError, sandbox
from sprites.backends.local import PROJECT_ROOT, LocalBackend

TOKEN = "escape-test-bridge-token"
NEIGHBOUR_TOKEN = "neighbours-own-bridge-token-77c1"
SECRET = "secret-of-the-neighbour-0f4a"

# A developer's machine without root or passt may skip these, saying why; CI never does
# (scripts/setup installs everything they need there, so a problem is a failure).
pytestmark = pytest.mark.skipif(
    sandbox.isolation_problem("strict") is not None and os.environ.get("CI") != "true",
    reason=f"strict isolation unavailable here: {sandbox.isolation_problem('strict')}",
)


@pytest.fixture
async def sprites(local_backend: LocalBackend) -> LocalBackend:
    await local_backend.bootstrap("attacker", TOKEN, {"OWN_SECRET": "mine"})
    await local_backend.bootstrap("neighbour", NEIGHBOUR_TOKEN, {"NEIGHBOUR_SECRET": SECRET})
    return local_backend


async def run(backend: LocalBackend, command: str, timeout: float = 20) -> tuple[int, str]:
    result = await backend.exec("attacker", command, timeout=timeout)
    return result.exit_code, (result.stdout + result.stderr).decode(errors="replace")


def _port(backend: LocalBackend, name: str) -> int:
    return int((backend.sprite_dir(name) / "run" / "bridge.port").read_text())


CONNECT = """python3 - <<'PY'
import socket, sys
try:
    s = socket.create_connection(("{host}", {port}), timeout=3)
    s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n"); s.settimeout(3)
    data = s.recv(200)
    print("ANSWERED" if data else "CLOSED", data[:60])
except Exception as error:
    print("REFUSED", type(error).__name__, error)
PY"""


async def test_the_sprite_runs_unprivileged_in_its_own_namespaces(sprites: LocalBackend) -> None:
    _, output = await run(
        sprites, "id -u; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status"
    )
    lines = output.split()
    assert lines[0] == "1000"
    assert "CapEff:" in lines and lines[lines.index("CapEff:") + 1] == "0000000000000000"
    assert lines[lines.index("NoNewPrivs:") + 1] == "1"
    assert lines[lines.index("Seccomp:") + 1] == "2"  # a filter is in force
    uid = sprites.uid("attacker")
    assert uid is not None and uid >= sandbox.FIRST_SPRITE_UID
    assert sprites.home("attacker").stat().st_uid == uid


@pytest.mark.parametrize(
    "command",
    [
        "umount -l /tmp",
        "mount -t tmpfs none /mnt",
        "mount -o remount,rw /",
        "unshare -Ur true",
        "unshare -m true",
        "python3 -c 'import ctypes,sys; sys.exit(ctypes.CDLL(None).unshare(0x20000) != 0)'",
    ],
)
async def test_mounting_and_new_namespaces_are_refused(sprites: LocalBackend, command: str) -> None:
    code, output = await run(sprites, command)
    assert code != 0, output


async def test_ptrace_is_refused(sprites: LocalBackend) -> None:
    code, output = await run(
        sprites,
        'sleep 30 & python3 -c "import ctypes,sys; libc=ctypes.CDLL(None, use_errno=True);'
        ' sys.exit(0 if libc.ptrace(16, int(sys.argv[1]), 0, 0) == 0 else 3)" $!',
    )
    assert code == 3, output


async def test_other_processes_and_their_environments_are_invisible(
    sprites: LocalBackend,
) -> None:
    _, output = await run(
        sprites,
        "ls /proc | grep -E '^[0-9]+$' | wc -l; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'",
    )
    assert SECRET not in output and NEIGHBOUR_TOKEN not in output
    # Only the sandbox's own few processes (its init, the bridge, pi, this shell).
    assert int(output.split()[0]) < 15
    neighbour_pid = int((sprites.sprite_dir("neighbour") / "run" / "bridge.pid").read_text())
    _, output = await run(sprites, f"kill -0 {neighbour_pid} && cat /proc/{neighbour_pid}/environ")
    assert SECRET not in output


async def test_keys_homes_checkout_and_logs_are_hidden(
    sprites: LocalBackend, data_dir: Path
) -> None:
    (data_dir / "secret_key").write_text("control-plane-secret-key")
    await sprites.write_file("neighbour", "private.txt", b"neighbour only")
    targets = [
        data_dir / "secret_key",
        sprites.home("neighbour") / "private.txt",
        sprites.log_path("neighbour"),
        PROJECT_ROOT / "starter" / "settings.py",
        PROJECT_ROOT / "pyproject.toml",
        Path("/root/.bashrc"),
    ]
    for target in targets:
        code, output = await run(sprites, f"cat {target}")
        assert code != 0, (target, output)
    _, listing = await run(sprites, f"ls -a {sprites.sprites_dir} {PROJECT_ROOT} 2>&1")
    assert "neighbour" not in listing and "manage.py" not in listing


async def test_writing_outside_the_home_is_refused(sprites: LocalBackend) -> None:
    for target in ("/etc/escape", "/usr/escape", "/escape", str(sprites.home("neighbour") / "x")):
        code, output = await run(sprites, f"echo pwned > {target}")
        assert code != 0, (target, output)
        assert not Path(target).exists()
    code, _ = await run(sprites, "echo fine > mine.txt && cat mine.txt")
    assert code == 0


async def test_the_platforms_services_and_the_neighbour_are_unreachable(
    sprites: LocalBackend,
) -> None:
    neighbour = _port(sprites, "neighbour")
    own = _port(sprites, "attacker")
    host_address = _non_loopback_address()
    targets = [("127.0.0.1", 5432), ("127.0.0.1", 6379), ("127.0.0.1", neighbour)]
    targets += [(host_address, 5432), (host_address, 6379), (host_address, neighbour)]
    targets += [("10.255.255.1", 80), ("169.254.169.254", 80), ("192.168.1.1", 80)]
    for host, port in targets:
        _, output = await run(sprites, CONNECT.format(host=host, port=port))
        assert "ANSWERED" not in output, (host, port, output)
    # Not even its own bridge's port: that socket belongs to the machine's network.
    _, output = await run(sprites, CONNECT.format(host="127.0.0.1", port=own))
    assert "ANSWERED" not in output, output


STEAL_LISTENER = """python3 - <<'PY'
import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
bridge = next(p for p in os.listdir("/proc") if p.isdigit()
              and b"bridge_agent" in open(f"/proc/{p}/cmdline", "rb").read())
print("own fds:", sorted(os.listdir("/proc/self/fd")))
pidfd = libc.syscall(434, int(bridge), 0)
taken = 0
for number in map(int, os.listdir(f"/proc/{bridge}/fd")):
    fd = libc.syscall(438, pidfd, number, 0)
    if fd < 0:
        continue
    taken += 1
    try:
        s = socket.socket(fileno=fd)
        s.settimeout(2); s.connect(("127.0.0.1", 5432)); print("CONNECTED")
    except OSError as error:
        pass
print("taken", taken, "errno", ctypes.get_errno())
PY"""


async def test_the_bridges_listening_socket_cannot_be_taken_or_used_to_connect_out(
    sprites: LocalBackend,
) -> None:
    """The bridge serves on a socket of the machine's loopback; no other process of the
    Sprite gets it (not inherited, pidfd_getfd refused), and a listening socket cannot
    connect anywhere anyway."""
    _, output = await run(sprites, STEAL_LISTENER)
    assert "CONNECTED" not in output and "taken 0" in output, output


async def test_each_sprite_has_its_own_port_3000(sprites: LocalBackend) -> None:
    serve = "nohup python3 -m http.server 3000 --bind 127.0.0.1 >/dev/null 2>&1 &"
    await sprites.exec("neighbour", f"echo neighbour-app > index.html; {serve}", timeout=10)
    await sprites.exec("attacker", f"echo attacker-app > index.html; {serve}", timeout=10)
    time.sleep(1)
    _, output = await run(sprites, "curl -s http://127.0.0.1:3000/index.html")
    assert "attacker-app" in output and "neighbour-app" not in output


async def test_exec_returns_while_a_background_server_keeps_running(
    sprites: LocalBackend,
) -> None:
    started = time.monotonic()
    code, _ = await run(
        sprites, "python3 -m http.server 3001 --bind 127.0.0.1 & sleep 0.5; echo up", 5
    )
    assert code == 0 and time.monotonic() - started < 5
    _, output = await run(sprites, CONNECT.format(host="127.0.0.1", port=3001))
    assert "ANSWERED" in output


def _non_loopback_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: only picks the route
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


# -- the symlink race against the files API ---------------------------------------------


def _swapper(home: Path, stop: threading.Event) -> None:
    """Swap a directory and a symlink to the data dir, as fast as possible (renameat2
    RENAME_EXCHANGE), as the Sprite's uid would from inside."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    a, b = str(home / "d").encode(), str(home / "swap").encode()
    while not stop.is_set():
        libc.renameat2(-100, a, -100, b, 2)


async def test_the_symlink_race_against_the_files_api_never_escapes(
    sprites: LocalBackend, data_dir: Path
) -> None:
    home = sprites.home("attacker")
    (data_dir / "secret_key").write_text("control-plane-secret-key")
    (home / "d").mkdir()
    (home / "d" / "secret_key").write_text("harmless")
    (home / "swap").symlink_to(data_dir)
    stop = threading.Event()
    thread = threading.Thread(target=_swapper, args=(home, stop), daemon=True)
    thread.start()
    leaked = created = 0
    try:
        for attempt in range(300):
            with contextlib.suppress(SpriteError):
                if b"control-plane" in await sprites.read_file("attacker", "d/secret_key"):
                    leaked += 1
            with contextlib.suppress(SpriteError):
                await sprites.write_file("attacker", f"d/planted-{attempt}", b"x")
    finally:
        stop.set()
        thread.join()
    created = len(list(data_dir.glob("planted-*")))
    assert (leaked, created) == (0, 0)
    assert (data_dir / "secret_key").read_text() == "control-plane-secret-key"


# -- the world stays reachable ------------------------------------------------------------


@pytest.fixture(scope="module")
def internet_host() -> Iterator[tuple[str, int, str]]:
    """A host in a network namespace of this test, routed from this machine over a veth
    pair, with an HTTP server on it: a stand-in for a server on the internet. Yields its
    address, its port, and this machine's own address on the link. One per module: the
    link takes about ten seconds to answer, and the tests only read from it."""
    # Only a developer's machine without iproute2 skips; in CI (CI=true) a missing `ip` fails
    # the test below, since scripts/setup installs it there.
    if shutil.which("ip") is None and os.environ.get("CI") != "true":
        pytest.skip("iproute2 is not installed (scripts/setup installs it)")
    suffix = f"{os.getpid() % 10000}"
    namespace, host_side = f"st-inet-{suffix}", f"st-h{suffix}"
    subnet = 100 + os.getpid() % 100
    host_ip, far_ip = f"203.0.113.{subnet}", f"198.51.100.{subnet}"

    def ip(*args: str, namespace_: str | None = None) -> None:
        prefix = ["ip", "netns", "exec", namespace_] if namespace_ else []
        subprocess.run([*prefix, "ip", *args], check=True, capture_output=True)

    subprocess.run(["ip", "netns", "add", namespace], check=True, capture_output=True)
    server: subprocess.Popen[bytes] | None = None
    try:
        ip("link", "add", host_side, "type", "veth", "peer", "name", "eth-far")
        ip("link", "set", "eth-far", "netns", namespace)
        ip("addr", "add", f"{host_ip}/32", "dev", host_side)
        ip("link", "set", host_side, "up")
        ip("route", "add", f"{far_ip}/32", "dev", host_side)
        ip("addr", "add", f"{far_ip}/32", "dev", "eth-far", namespace_=namespace)
        ip("link", "set", "eth-far", "up", namespace_=namespace)
        ip("link", "set", "lo", "up", namespace_=namespace)
        ip("route", "add", f"{host_ip}/32", "dev", "eth-far", namespace_=namespace)
        ip("route", "add", "default", "via", host_ip, "dev", "eth-far", namespace_=namespace)
        web_root = Path(os.environ.get("TMPDIR", "/tmp")) / f"st-inet-{suffix}"
        web_root.mkdir(exist_ok=True)
        (web_root / "hello.txt").write_text("hello from the internet\n")
        server = subprocess.Popen(
            ["ip", "netns", "exec", namespace, "timeout", "600",
             sys.executable, "-m", "http.server", "8080", "--bind", far_ip, "-d", str(web_root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # Wait until the host answers from this machine (its server is up, the link's
        # neighbour entry is resolved) before a Sprite tries it.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((far_ip, 8080), 1):
                break
            time.sleep(0.2)
        yield far_ip, 8080, host_ip
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        subprocess.run(["ip", "link", "del", host_side], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)


async def test_the_sprite_reaches_a_server_on_the_internet(
    sprites: LocalBackend, internet_host: tuple[str, int, str]
) -> None:
    host, port, _ = internet_host
    code, output = await run(sprites, f"curl -sS --max-time 10 http://{host}:{port}/hello.txt")
    assert code == 0 and "hello from the internet" in output, output


# -- the same escapes through the agent ------------------------------------------------------


async def test_the_agents_bash_tool_is_held_by_the_same_sandbox(
    local_backend: LocalBackend, data_dir: Path
) -> None:
    """pi's own bash tool, driven by a scripted model, tries the keys, the neighbour's
    bridge and PostgreSQL; the tool output the model gets back shows each one failing."""
    import json

    import httpx

    from tests.support.model_server import ScriptedModelServer, pi_models_config

    (data_dir / "secret_key").write_text("control-plane-secret-key")
    with ScriptedModelServer() as model:
        await local_backend.create("attacker")
        settings = {"defaultProvider": "fake", "defaultModel": "fake-model"}
        await local_backend.write_file(
            "attacker",
            ".pi/agent/models.json",
            json.dumps(pi_models_config(model.base_url)).encode(),
        )
        await local_backend.write_file(
            "attacker", ".pi/agent/settings.json", json.dumps(settings).encode()
        )
        await local_backend.bootstrap("neighbour", NEIGHBOUR_TOKEN, {"NEIGHBOUR_SECRET": SECRET})
        await local_backend.bootstrap("attacker", TOKEN, {})
        neighbour = _port(local_backend, "neighbour")
        probe = (
            f"cat {data_dir}/secret_key; echo KEY-$?;"
            " cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c NEIGHBOUR_SECRET;"
            f" curl -s -m 3 http://127.0.0.1:{neighbour}/starter/state; echo BRIDGE-$?;"
            " timeout 3 bash -c 'echo > /dev/tcp/127.0.0.1/5432' && "
            'python3 -c \'import socket;s=socket.create_connection(("127.0.0.1",5432),3);'
            's.sendall(bytes([0,0,0,8,4,210,22,47]));print("PG-",s.recv(1))\';'
            " echo AGENT-PROBE-DONE"
        )
        endpoint = await local_backend.bridge_endpoint("attacker", TOKEN)
        async with httpx.AsyncClient(
            base_url=endpoint.base_url, headers=endpoint.headers
        ) as client:
            response = await client.post("/starter/prompt", json={"message": f"[[bash: {probe}]]"})
            assert response.status_code in (200, 202), response.text

        def tool_output(body: dict[str, object]) -> str:
            messages = body.get("messages") or []
            assert isinstance(messages, list)
            return json.dumps([m for m in messages if m.get("role") == "tool"])

        try:
            request = await asyncio.to_thread(
                model.wait_for_request, lambda body: "AGENT-PROBE-DONE" in tool_output(body), 60
            )
        except TimeoutError:
            # Say what the model saw and what the bridge logged, not only that it timed out.
            seen = [tool_output(body)[-500:] for body in model.requests]
            raise AssertionError(
                f"model {model.base_url} saw {len(seen)} requests {seen};"
                f" the bridge's log:\n{local_backend._log_tail('attacker', 60)}"
            ) from None
    output = tool_output(request)
    assert "control-plane-secret-key" not in output and "KEY-1" in output
    assert SECRET not in output
    assert "BRIDGE-0" not in output  # curl never got an answer from the neighbour's bridge
    assert "PG- b'N'" not in output and "PG- b'S'" not in output


async def test_a_service_on_any_address_of_this_machine_is_unreachable(
    sprites: LocalBackend, internet_host: tuple[str, int, str]
) -> None:
    """A platform service listening on every address (0.0.0.0) of this machine: the Sprite
    tries it through the machine's address on the test link, a public-looking one that
    no private-range rule covers. Only the rule on this machine's own addresses holds."""
    _, _, own_address = internet_host
    listener = socket.create_server(("0.0.0.0", 0))
    port = listener.getsockname()[1]
    listener.settimeout(0.2)
    stop = threading.Event()

    def answer() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            with connection:
                connection.sendall(b"platform-service-answer")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        with socket.create_connection((own_address, port), 3) as probe:
            assert probe.recv(100) == b"platform-service-answer"  # it does answer here
        _, output = await run(sprites, CONNECT.format(host=own_address, port=port))
        assert "ANSWERED" not in output, output
    finally:
        stop.set()
        thread.join()
        listener.close()


async def test_flushed_network_rules_come_back_with_the_supervisor(sprites: LocalBackend) -> None:
    # Flushing the chain (not the table) keeps other Sprites' allowed ports meanwhile.
    subprocess.run(["nft", "flush", "chain", "inet", "starter_sprites", "output"], check=True)
    try:
        await sprites.supervise()
        _, output = await run(sprites, CONNECT.format(host="10.255.255.1", port=80))
        assert "ANSWERED" not in output
        listed = subprocess.run(
            ["nft", "list", "table", "inet", "starter_sprites"], capture_output=True, text=True
        )
        assert 'oifname "lo" reject' in listed.stdout
    finally:
        sandbox.egress.install(sandbox.FIRST_SPRITE_UID, sandbox.LAST_SPRITE_UID)


async def test_a_home_from_before_isolation_is_handed_over_without_following_links(
    local_backend: LocalBackend, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("root's")
    home = local_backend.home("legacy")
    (home / "src").mkdir(parents=True)  # made as root, as before isolation
    (home / "src" / "app.py").write_text("print(1)\n")
    (home / "link").symlink_to(outside)
    (home / "dirlink").symlink_to(tmp_path, target_is_directory=True)
    await local_backend.bootstrap("legacy", TOKEN, {})
    uid = local_backend.uid("legacy")
    assert (home / "src" / "app.py").stat().st_uid == uid
    assert (home / "link").lstat().st_uid == uid
    assert outside.stat().st_uid == 0 and tmp_path.stat().st_uid == 0
    code, _ = await run_in(local_backend, "legacy", "echo more >> src/app.py")
    assert code == 0


async def run_in(backend: LocalBackend, name: str, command: str) -> tuple[int, str]:
    result = await backend.exec(name, command, timeout=20)
    return result.exit_code, (result.stdout + result.stderr).decode(errors="replace")
