"""The API under a real uvicorn on a free loopback port, in a thread (for tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from chatport.api.app import create_app
from chatport.services import Services
from tests.waiting import PATIENCE


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve_app(services: Services) -> Iterator[str]:
    """`create_app(services)` served until the block ends; yields its base URL."""
    with serve_asgi(create_app(services)) as url:
        yield url


@contextmanager
def serve_asgi(app, port: int | None = None) -> Iterator[str]:
    """Any ASGI app served until the block ends (on `port`, default: a free one); yields its
    base URL."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + PATIENCE
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@contextmanager
def chatport_serve(
    command: str, database_url: str, env: dict[str, str] | None = None, *options: str
) -> Iterator[tuple[str, subprocess.Popen]]:
    """`chatport serve [OPTIONS]` as its own process on a free port until the block ends
    (then SIGTERM); yields its base URL, once `/healthz` answers, and the process (its
    standard error is a pipe, read it once it has ended)."""
    port = free_port()
    argv = [command, "serve", "--db", database_url, "--port", str(port), *options]
    environment = {**os.environ, **(env or {})}
    server = subprocess.Popen(argv, env=environment, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + PATIENCE
        while True:
            try:
                httpx.get(f"{base}/healthz")
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "chatport serve did not start"
                time.sleep(0.1)
        yield base, server
    finally:
        server.terminate()
        server.wait(timeout=30)
