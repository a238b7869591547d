"""Run governance in-process: a real uvicorn server in a thread.

Used by the demo and the tests::

    with serve_in_thread("sqlite:///gov.db") as server:
        token = bootstrap_admin("sqlite:///gov.db")
        client = GovernanceClient(server.url, token)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from core.settings import read_settings
from governance.config import Settings
from governance.main import create_app

__all__ = ["RunningServer", "serve_in_thread", "start_in_thread"]


class RunningServer:
    """A governance server running under uvicorn in a background thread."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, url: str) -> None:
        self._server = server
        self._thread = thread
        self.url = url

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def start_in_thread(
    database_url: str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    startup_timeout: float = 30.0,
    **settings: Any,
) -> RunningServer:
    """Start the server and wait until ``/api/v1/health`` answers; call ``stop()`` after.

    Args:
        settings: further :class:`Settings` fields, e.g. ``prefect_api_url``.
    """
    port = port or _free_port(host)
    app = create_app(read_settings(Settings, database_url=database_url, **settings))
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"governance-{port}", daemon=True)
    thread.start()
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError(f"governance server on {url} exited during start-up")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1.0).status_code == 200:
                return RunningServer(server, thread, url)
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    server.should_exit = True
    thread.join(5)
    raise RuntimeError(f"governance server on {url} did not become healthy")


@contextmanager
def serve_in_thread(
    database_url: str, host: str = "127.0.0.1", port: int = 0, **settings: Any
) -> Iterator[RunningServer]:
    """Run governance on ``database_url`` for the duration of the ``with`` block.

    ``port=0`` picks a free port; the URL is ``server.url``. ``settings`` are further
    :class:`Settings` fields.
    """
    running = start_in_thread(database_url, host, port, **settings)
    try:
        yield running
    finally:
        running.stop()
