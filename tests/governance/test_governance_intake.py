"""Before a body is read: its size is bounded and a write's token is checked.

An anonymous caller can make governance neither read a large body nor parse a malformed
one; an oversized body is refused as it arrives; 20 concurrent anonymous 100 MB uploads
leave the service's memory where it was.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from connector_servers import free_port
from govtest import Gov, rand

MB = 1024 * 1024


def _problem(response: httpx.Response) -> dict[str, object]:
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    return body


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"\x00\xff\xfe", b'{"name": "' + b"x" * 5000 + b'"}', b""],
)
def test_an_anonymous_write_is_refused_before_its_body_is_parsed(gov: Gov, body: bytes) -> None:
    for headers in ({}, {"Authorization": "Bearer mlg_not-a-token"}, {"Authorization": "x"}):
        response = httpx.post(
            f"{gov.url}/api/v1/projects",
            content=body,
            headers={"Content-Type": "application/json", **headers},
        )
        assert response.status_code == 401, response.text
        assert _problem(response)["code"] == "unauthenticated"
        assert response.headers["www-authenticate"] == "Bearer"


def test_a_declared_body_over_the_limit_is_refused_unread(gov: Gov) -> None:
    admin_token = gov.admin._http.headers["Authorization"]
    for headers in ({}, {"Authorization": admin_token}):
        response = httpx.post(
            f"{gov.url}/api/v1/projects",
            content=b"{" + b" " * (2 * MB) + b"}",
            headers={"Content-Type": "application/json", **headers},
        )
        assert response.status_code == 413
        problem = _problem(response)
        assert problem["code"] == "body_too_large" and "1048576 bytes" in str(problem["detail"])


def test_a_chunked_body_over_the_limit_stops_being_read_and_writes_nothing(gov: Gov) -> None:
    name = rand("big")

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "' + name.encode() + b'", "description": "'
        for _ in range(3):
            yield b"d" * MB
        yield b'"}'

    response = httpx.post(
        f"{gov.url}/api/v1/projects",
        content=chunks(),
        headers={
            "Content-Type": "application/json",
            "Authorization": gov.admin._http.headers["Authorization"],
        },
    )
    assert response.status_code == 413
    assert _problem(response)["code"] == "body_too_large"
    assert name not in [p.name for p in gov.admin.list_projects(limit=1000)]


def _vm(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"{key} not found")


def _upload(port: int, declared: bool, size: int) -> None:
    """Send a POST with a ``size``-byte body, as an anonymous client; ignore the answer."""
    head = (
        b"POST /api/v1/projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + (
            f"Content-Length: {size}\r\n".encode()
            if declared
            else b"Transfer-Encoding: chunked\r\n"
        )
        + b"\r\n"
    )
    block = b"x" * (256 * 1024)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(head)
            sent = 0
            while sent < size:
                piece = block if declared else f"{len(block):x}\r\n".encode() + block + b"\r\n"
                sock.sendall(piece)
                sent += len(block)
    except OSError:
        pass  # the server answered and closed: what an unread body should get


def test_twenty_concurrent_anonymous_100_mb_uploads_leave_memory_flat(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "MLGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'gov.db'}",
        "OMP_NUM_THREADS": "1",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "mlgate.cli", "governance", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        for _ in range(20):  # warm the request path first
            httpx.post(f"http://127.0.0.1:{port}/api/v1/projects", content=b"{}")
        idle = _vm(server.pid, "VmRSS")
        Path(f"/proc/{server.pid}/clear_refs").write_text("5")  # restart the peak from here
        uploads = [
            threading.Thread(target=_upload, args=(port, i % 2 == 0, 100 * MB)) for i in range(20)
        ]
        for t in uploads:
            t.start()
        for t in uploads:
            t.join(120)
        peak = _vm(server.pid, "VmHWM")
        assert peak - idle < 50 * MB, f"peak {peak / MB:.0f} MB against {idle / MB:.0f} MB idle"
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200
    finally:
        server.terminate()
        server.wait(30)
