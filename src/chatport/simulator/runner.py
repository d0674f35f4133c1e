"""Run the WAHA simulator: in the foreground (CLI), or in a background thread (tests, demo)."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from chatport.simulator.server import SimulatorConfig, create_app


async def serve(config: SimulatorConfig, host: str, port: int) -> None:
    """Serve until cancelled."""
    runner = web.AppRunner(create_app(config), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


@contextmanager
def simulator_in_thread(config: SimulatorConfig, host: str = "127.0.0.1") -> Iterator[str]:
    """Start the simulator on a free port in a daemon thread; yield its base URL."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    address: list[str] = []

    async def start() -> web.AppRunner:
        runner = web.AppRunner(create_app(config), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # aiohttp exposes no public accessor
        address.append(f"http://{host}:{port}")
        return runner

    def run() -> None:
        asyncio.set_event_loop(loop)
        runner = loop.run_until_complete(start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, name="waha-simulator", daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield address[0]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@contextmanager
def simulator_process(
    port: int, *options: str, command: str = "chatport", ready_seconds: float = 600
) -> Iterator[str]:
    """Run `chatport simulate waha OPTIONS --port PORT` as its own process for the block;
    yield its base URL once it answers (benchmarks, end-to-end tests)."""
    argv = [command, "simulate", "waha", *options, "--port", str(port)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_seconds
        while True:
            try:
                urllib.request.urlopen(url + "/ping", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"the simulator at {url} did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)
