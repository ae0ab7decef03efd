"""What a local Sprite's network may reach: the world, never the platform.

Each Sprite has a network namespace of its own, connected to the outside by ``pasta``
(user-mode networking), which turns the Sprite's connections into ordinary sockets of
this machine opened by the Sprite's own uid. The nftables table below is keyed on those
uids: their new connections to this machine (anything leaving through ``lo``, which is
every address of the machine itself) and to private, link-local and shared address
ranges (the platform's database, Redis, other hosts of a data centre, cloud metadata) are
rejected. Two holes, both narrow: DNS to the resolvers this machine uses, and the
loopback ports a Sprite was given (``allow_loopback_ports``: the model server of a test,
the control plane's API for the general agent).

Replies to connections *into* the Sprite (the control plane reaching its bridge through
the port pasta forwards) are established traffic and pass.
"""

from __future__ import annotations

import ipaddress
import logging
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

TABLE = "starter_sprites"
BLOCKED_V4 = (
    "0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, 169.254.0.0/16, 172.16.0.0/12,"
    " 192.168.0.0/16, 198.18.0.0/15, 224.0.0.0/4, 240.0.0.0/4"
)
BLOCKED_V6 = "::/127, ::ffff:0:0/96, 64:ff9b::/96, fc00::/7, fe80::/10, ff00::/8"


class EgressError(Exception):
    """The rules could not be put in place (no nft, not root, no nf_tables)."""


def nft_path() -> str | None:
    return shutil.which("nft") or next(
        (str(p) for p in (Path("/usr/sbin/nft"), Path("/sbin/nft")) if p.exists()), None
    )


def resolvers(resolv_conf: Path = Path("/etc/resolv.conf")) -> list[str]:
    """The name servers this machine asks (a Sprite's DNS goes to the same ones)."""
    found = []
    try:
        lines = resolv_conf.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            try:
                found.append(str(ipaddress.ip_address(parts[1].split("%")[0])))
            except ValueError:
                continue
    return found


def ruleset(first_uid: int, last_uid: int, dns_servers: Iterable[str]) -> str:
    """The table, in one transaction. Existing set elements (the loopback ports of Sprites
    that other processes started) are kept: only the chain's rules are replaced."""
    uids = f"{first_uid}-{last_uid}"
    v4 = [s for s in dns_servers if ipaddress.ip_address(s).version == 4]
    v6 = [s for s in dns_servers if ipaddress.ip_address(s).version == 6]
    rule = f"add rule inet {TABLE} output meta skuid {uids}"
    rules = [
        f"add rule inet {TABLE} output ct state established,related accept",
        f"{rule} oifname lo meta skuid . tcp dport @loopback_ports accept",
    ]
    for family, servers in (("ip", v4), ("ip6", v6)):
        if servers:
            rules.append(
                f"{rule} {family} daddr {{ {', '.join(servers)} }}"
                " meta l4proto { tcp, udp } th dport 53 accept"
            )
    rules += [
        f"{rule} oifname lo reject",
        f"{rule} ip daddr {{ {BLOCKED_V4} }} reject",
        f"{rule} ip6 daddr {{ {BLOCKED_V6} }} reject",
    ]
    return (
        "\n".join(
            [
                f"add table inet {TABLE}",
                f"add set inet {TABLE} loopback_ports {{ type uid . inet_service; }}",
                f"add chain inet {TABLE} output"
                " { type filter hook output priority filter; policy accept; }",
                f"flush chain inet {TABLE} output",
                *rules,
            ]
        )
        + "\n"
    )


def _nft(script: str) -> None:
    binary = nft_path()
    if binary is None:
        raise EgressError("nft is not installed (Debian's 'nftables' package)")
    result = subprocess.run(
        [binary, "-f", "-"], input=script.encode(), capture_output=True, timeout=20, check=False
    )
    if result.returncode != 0:
        raise EgressError(result.stderr.decode(errors="replace").strip() or "nft failed")


def install(first_uid: int, last_uid: int) -> None:
    """Put the table in place (idempotent; every Sprite's loopback ports are kept)."""
    _nft(ruleset(first_uid, last_uid, resolvers()))


def allow_loopback_ports(uid: int, ports: Iterable[int]) -> None:
    """Let ``uid`` reach exactly ``ports`` on this machine's loopback (none before)."""
    elements = ", ".join(f"{uid} . {int(port)}" for port in ports)
    script = ""
    # Deleting by uid needs the current elements: flush this uid's by listing them.
    for port in loopback_ports(uid):
        script += f"delete element inet {TABLE} loopback_ports {{ {uid} . {port} }}\n"
    if elements:
        script += f"add element inet {TABLE} loopback_ports {{ {elements} }}\n"
    if script:
        _nft(script)


def loopback_ports(uid: int) -> list[int]:
    binary = nft_path()
    if binary is None:
        return []
    result = subprocess.run(
        [binary, "list", "set", "inet", TABLE, "loopback_ports"],
        capture_output=True,
        timeout=20,
        check=False,
        text=True,
    )
    ports = []
    for chunk in result.stdout.replace("{", ",").replace("}", ",").split(","):
        parts = chunk.split(".")
        if len(parts) == 2 and parts[0].strip() == str(uid) and parts[1].strip().isdigit():
            ports.append(int(parts[1].strip()))
    return ports
