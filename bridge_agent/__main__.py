"""``python -m bridge_agent --host H --port P --home DIR`` (token in ``STARTER_BRIDGE_TOKEN``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from pathlib import Path

import uvicorn

from bridge_agent.app import create_app
from bridge_agent.config import (
    DEFAULT_APP_PORT,
    TOKEN_ENV,
    BridgeConfig,
    find_node_binary,
    find_pi_binary,
)
from bridge_agent.server import BridgeServer, event_loop_factory, no_delay_http_protocol


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bridge_agent", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--home", required=True, type=Path, help="the Sprite's home directory")
    parser.add_argument(
        "--app-port",
        type=int,
        default=int(os.environ.get("STARTER_APP_PORT", DEFAULT_APP_PORT)),
        help="where the proxy sends other paths until the agent starts an app elsewhere",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=float(os.environ.get("STARTER_IDLE_TIMEOUT", 600)),
        help="seconds before an idle session's pi process is stopped",
    )
    parser.add_argument(
        "--keepalive",
        type=float,
        default=float(os.environ.get("STARTER_SSE_KEEPALIVE", 15)),
        help="seconds between SSE keep-alive comments",
    )
    parser.add_argument(
        "--no-prewarm",
        action="store_true",
        help="do not start pi for the current session until a command needs it",
    )
    parser.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    parser.add_argument(
        "--listen-fd",
        type=int,
        help="serve on this inherited listening socket instead of binding --host/--port"
        " (a sandboxed Sprite gets one of the control plane's network)",
    )
    parser.add_argument(
        "--environment-fd",
        type=int,
        help="write each new environment the control plane sends to this pipe (the keeper's,"
        " so that a restarted bridge gets it too)",
    )
    parser.add_argument("--log-level", default=os.environ.get("STARTER_LOG_LEVEL", "info"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        print(f"{TOKEN_ENV} must be set to the bridge token.", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    home = args.home.resolve()
    pi_binary = find_pi_binary(dict(os.environ), [Path(__file__).resolve().parent, Path.cwd()])
    config = BridgeConfig(
        home=home,
        token=token,
        host=args.host,
        port=args.port,
        app_port=args.app_port,
        pi_binary=pi_binary,
        node_binary=find_node_binary(dict(os.environ), pi_binary),
        idle_timeout=args.idle_timeout,
        keepalive_interval=args.keepalive,
        prewarm=not args.no_prewarm,
        environment_fd=args.environment_fd,
    )
    if args.environment_fd is not None:
        # The keeper's pipe: pi and the commands it runs must never write to it.
        os.set_inheritable(args.environment_fd, False)
    # Bind first so that port 0 works and the port can be reported before serving.
    if args.listen_fd is not None:
        listener = socket.socket(fileno=args.listen_fd)
        # A socket of the control plane's network: pi and the commands it runs never get it.
        listener.set_inheritable(False)
    else:
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((args.host, args.port))
        listener.listen(2048)
        listener.set_inheritable(True)
    port = listener.getsockname()[1]
    config = BridgeConfig(**{**config.__dict__, "port": port})
    app = create_app(config)
    if args.port_file:
        temporary = args.port_file.with_suffix(".tmp")
        temporary.write_text(str(port))
        temporary.replace(args.port_file)
    uvicorn_config = uvicorn.Config(
        app,
        log_level=args.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=10,
        lifespan="on",
        server_header=False,
        # Proxied responses carry the app's own Date header; don't add a second one.
        date_header=False,
        http=no_delay_http_protocol(),
        # Nothing sits in front of the bridge that it should trust for client addresses.
        proxy_headers=False,
    )
    server = BridgeServer(uvicorn_config, app)
    logging.getLogger("bridge_agent").info("bridge listening on http://%s:%s", args.host, port)
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(server.serve(sockets=[listener]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
