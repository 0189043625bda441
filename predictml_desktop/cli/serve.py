"""``predictml serve [--host 127.0.0.1] [--port 8000] [--api-key-file FILE]``: the local prediction service.

Runs the FastAPI app of ``server`` under uvicorn in this process. It binds 127.0.0.1 by default;
another host is allowed but warned about, and its name is accepted in the ``Host`` header. A port in
use is reported with a free one. ``--follow-parent`` (used by the app's Server view) makes the service
exit when the app that started it dies. Requests are logged to ``logs/service-requests.log``.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import sys
from pathlib import Path
from typing import Any

from predictml_desktop.cli.common import EXIT_FAILURE, EXIT_USAGE, CliError


def register(sub: Any) -> None:
    """Add the ``serve`` command."""
    p = sub.add_parser("serve", help="run the local HTTP prediction service (127.0.0.1 by default)")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this computer only)")
    p.add_argument("--port", type=int, default=None, help="port (default: the Settings value, 8000)")
    p.add_argument("--api-key-file", metavar="FILE", type=Path,
                   help="require the key stored in FILE (X-API-Key or Authorization: Bearer)")
    p.add_argument("--require-api-key", action="store_true",
                   help="require the app's generated key (created if missing; see the Server view)")
    p.add_argument("--allow-host", metavar="NAME", action="append", default=[],
                   help="accept this Host header name besides localhost (repeatable)")
    p.add_argument("--max-body-mb", type=float, default=10.0, help="largest request body in MB (default 10)")
    p.add_argument("--max-rows", type=int, default=10_000, help="most rows per request (default 10000)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds one prediction may take (default 5)")
    p.add_argument("--threads", type=int, default=8, help="prediction threads (default 8)")
    p.add_argument("--max-in-flight", type=int, default=32, help="requests predicting at once before 429 (default 32)")
    p.add_argument("--allow-version-drift", action="store_true",
                   help="serve models trained with other library versions")
    p.add_argument("--follow-parent", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(handler=_serve)


def _configure_logs(logs: Path) -> None:
    logs.mkdir(parents=True, exist_ok=True)
    requests = logging.getLogger("predictml_desktop.server.requests")
    handler = logging.handlers.RotatingFileHandler(logs / "service-requests.log", maxBytes=5_000_000, backupCount=3,
                                                   encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    requests.addHandler(handler)
    requests.setLevel(logging.INFO)
    requests.propagate = False
    root = logging.getLogger("predictml_desktop")
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from predictml_desktop.core.paths import Paths
    from predictml_desktop.core.processes import follow_parent
    from predictml_desktop.core.service import (
        api_key_path,
        find_free_port,
        generate_api_key,
        port_available,
        read_api_key,
    )
    from predictml_desktop.core.settings import load_settings
    from predictml_desktop.server.app import create_app
    from predictml_desktop.server.middleware import LOOPBACK_HOSTS

    paths = Paths.default().ensure()
    settings = load_settings(paths)
    port = args.port if args.port is not None else settings.server_port
    if not 0 < port < 65536:
        raise CliError(f"--port {port} is not a port number (1-65535).", EXIT_USAGE)
    if args.max_rows < 1 or args.max_body_mb <= 0 or args.threads < 1 or args.timeout <= 0:
        raise CliError("--max-rows, --max-body-mb, --threads and --timeout must be positive.", EXIT_USAGE)
    key_file: Path | None = args.api_key_file
    if key_file is None and (args.require_api_key or settings.require_api_key):
        if read_api_key(paths) is None:
            generate_api_key(paths)
        key_file = api_key_path(paths)
    if key_file is not None and not key_file.is_file():
        raise CliError(f"The API key file {key_file} does not exist.", EXIT_USAGE)
    if not port_available(port, args.host):
        free = find_free_port(port + 1, args.host)
        offer = f"; port {free} is free: predictml serve --port {free}" if free else ""
        raise CliError(f"Port {port} on {args.host} is already in use{offer}.", EXIT_FAILURE)
    allowed = list(args.allow_host)
    if args.host not in LOOPBACK_HOSTS:
        print(f"predictml: warning: serving on {args.host}: other computers may reach this service"
              + ("" if key_file else " and no API key is required"), file=sys.stderr)
        if args.host not in ("0.0.0.0", "::"):
            allowed.append(args.host)
    if args.follow_parent:
        follow_parent()
    _configure_logs(paths.logs)
    app = create_app(
        paths,
        api_key_file=key_file,
        allowed_hosts=allowed,
        max_body_bytes=int(args.max_body_mb * 1024 * 1024),
        max_batch_rows=args.max_rows,
        predict_timeout_s=args.timeout,
        max_in_flight=args.max_in_flight,
        threads=args.threads,
        allow_version_drift=args.allow_version_drift,
    )
    print(f"PredictML prediction service on http://{args.host}:{port} (docs: /docs, stop: Ctrl+C)",
          file=sys.stderr, flush=True)
    config = uvicorn.Config(app, host=args.host, port=port, log_level="warning", access_log=False,
                            lifespan="on", timeout_keep_alive=5, server_header=False)
    server = uvicorn.Server(config)
    server.run()
    # uvicorn sets should_exit after a clean stop; a failed start leaves started False.
    return 0 if server.started else EXIT_FAILURE
