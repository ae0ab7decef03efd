"""``starter-service``: define and manage the project's services from a shell or a script.

Talks to the bridge over the unix socket in ``$STARTER_SERVICES_SOCKET``. Standard library
only: it runs with whatever Python the Sprite offers, beside no other part of the bridge.

    starter-service start NAME [--port N] [--type T] [--schedule S] [--cwd DIR]
                               [--description TEXT] -- COMMAND...
    starter-service start|stop|restart|run|rm NAME
    starter-service list [--json]
    starter-service status NAME
    starter-service logs NAME [-n LINES] [-f]
    starter-service runs NAME
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shlex
import socket
import sys
from typing import Any

SOCKET_ENV = "STARTER_SERVICES_SOCKET"


class SocketConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        directory = os.open(os.path.dirname(self.socket_path) or ".", os.O_RDONLY | os.O_DIRECTORY)
        try:
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.settimeout(self.timeout)
            # Through the directory's descriptor: a deep home would pass 107 bytes.
            connection.connect(f"/proc/self/fd/{directory}/{os.path.basename(self.socket_path)}")
        finally:
            os.close(directory)
        self.sock = connection


class Failed(Exception):
    pass


def request(
    method: str, path: str, body: dict[str, Any] | None = None, timeout: float | None = 60
) -> tuple[int, Any, http.client.HTTPResponse]:
    socket_path = os.environ.get(SOCKET_ENV)
    if not socket_path:
        raise Failed(f"${SOCKET_ENV} is not set: run this inside the project's Sprite.")
    connection = SocketConnection(socket_path, timeout)
    payload = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if payload is not None else {}
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
    except OSError as error:
        raise Failed(f"The Starter bridge is not reachable on {socket_path} ({error}).") from None
    if response.getheader("content-type", "").startswith("text/event-stream"):
        return response.status, None, response
    raw = response.read()
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        data = None
    if response.status >= 400:
        message = data.get("message") if isinstance(data, dict) else raw.decode(errors="replace")
        raise Failed(str(message))
    return response.status, data, response


def describe(service: dict[str, Any]) -> str:
    status = service["status"]
    if status == "backoff" and service.get("next_restart_at"):
        status += f" (restart {service['restart_count']} at {service['next_restart_at']})"
    extra = []
    if service.get("port"):
        extra.append(f"port {service['port']}")
    if service.get("schedule"):
        extra.append(f"{service['schedule']}, next {service.get('next_run_at') or '-'}")
    if service.get("pid"):
        extra.append(f"pid {service['pid']}")
    details = f" [{'; '.join(extra)}]" if extra else ""
    return f"{service['name']:<20} {service['type']:<7} {status}{details}\n    {service['command']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="starter-service", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="action", required=True)
    start = commands.add_parser("start", help="define (with a command) or start a service")
    start.add_argument("name")
    start.add_argument("--port", type=int)
    start.add_argument("--type", choices=("app", "api", "worker", "cron"))
    start.add_argument("--schedule", help="cron: '*/5 * * * *' (UTC) or 'every 10m'")
    start.add_argument("--cwd", help="working directory in the home (default: here)")
    start.add_argument("--description")
    for action in ("stop", "restart", "run", "rm", "status", "runs"):
        commands.add_parser(action).add_argument("name")
    listing = commands.add_parser("list")
    listing.add_argument("--json", action="store_true")
    logs = commands.add_parser("logs")
    logs.add_argument("name")
    logs.add_argument("-n", "--lines", type=int, default=100)
    logs.add_argument("-f", "--follow", action="store_true")
    given = sys.argv[1:] if argv is None else argv
    # Everything after the first ``--`` is the command, never an option of ours.
    split = given.index("--") if "--" in given else len(given)
    args = parser.parse_args(given[:split])
    args.command = given[split + 1 :]
    try:
        return run(args)
    except Failed as error:
        print(f"starter-service: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def run(args: argparse.Namespace) -> int:
    base = "/starter/services"
    if args.action == "start":
        command: list[str] = args.command
        if not command:
            _, service, _ = request("POST", f"{base}/{args.name}/start")
        else:
            body: dict[str, Any] = {
                "name": args.name,
                "command": command[0] if len(command) == 1 else shlex.join(command),
                "cwd": args.cwd or os.getcwd(),
            }
            for field in ("port", "type", "schedule", "description"):
                if getattr(args, field) is not None:
                    body[field] = getattr(args, field)
            _, service, _ = request("POST", base, body)
        print(describe(service))
    elif args.action in ("stop", "restart", "run"):
        _, service, _ = request("POST", f"{base}/{args.name}/{args.action}")
        print(describe(service))
    elif args.action == "rm":
        request("DELETE", f"{base}/{args.name}")
        print(f"{args.name} removed")
    elif args.action == "status":
        _, service, _ = request("GET", f"{base}/{args.name}")
        print(json.dumps(service, indent=2))
    elif args.action == "list":
        _, data, _ = request("GET", base)
        if args.json:
            print(json.dumps(data["services"], indent=2))
        else:
            print("\n".join(describe(s) for s in data["services"]) or "no services")
    elif args.action == "runs":
        _, data, _ = request("GET", f"{base}/{args.name}/runs")
        for item in data["runs"]:
            print(
                f"#{item['id']} {item['started_at']} -> {item['ended_at'] or 'running'}"
                f" exit {item['exit_code']} ({item['trigger']})"
            )
    elif args.action == "logs":
        return logs(f"{base}/{args.name}/logs", args.lines, args.follow)
    return 0


def logs(path: str, lines: int, follow: bool) -> int:
    if not follow:
        _, data, _ = request("GET", f"{path}?lines={lines}")
        for line in data["lines"]:
            print(line)
        return 0
    _, _, response = request("GET", f"{path}?lines={lines}&follow=1", timeout=None)
    for raw in response:
        line = raw.decode("utf-8", errors="replace").rstrip("\n")
        if line.startswith("data: "):
            print(json.loads(line[6:])["line"], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
