"""The governance client: every httpx exception becomes one of ours, in one place.

``governance.client.http_errors`` is walked with every exception class httpx exports
(tests/exception_walk.py); the mapping of the ones that matter is pinned; and against
real sockets in a thread, which failures are retried and which are not.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import httpx
import pytest
from exception_walk import PLANTED, walk

from governance.client import GovernanceClient, http_errors
from governance.errors import (
    GovernanceUnavailable,
    InvalidInput,
    MlgateError,
    NotFound,
)

BASE = "http://127.0.0.1:9"
WHAT = "GET /api/v1/health"
REQUEST = httpx.Request("GET", f"{BASE}/api/v1/health?token={PLANTED}")
PROBLEM = httpx.Response(
    404,
    request=REQUEST,
    json={"code": "not_found", "detail": "project credit-risk not found"},
)


def _translator() -> AbstractContextManager[object]:
    return http_errors(BASE, WHAT)


SAMPLES = {"message": PLANTED, "request": REQUEST, "response": PROBLEM}


def test_every_httpx_exception_becomes_a_governance_error() -> None:
    walked = walk(httpx, _translator, MlgateError, samples=SAMPLES)
    assert len(walked) >= 28


def test_the_walk_fails_on_a_class_left_untranslated() -> None:
    with pytest.raises(AssertionError, match="ConnectError came out untranslated"):
        walk(httpx, nullcontext, MlgateError, samples=SAMPLES)


@pytest.mark.parametrize(
    ("raw", "ours", "message"),
    [
        (httpx.ConnectError(PLANTED), GovernanceUnavailable, r"cannot be reached \(ConnectError\)"),
        (httpx.ReadTimeout(PLANTED), GovernanceUnavailable, r"cannot be reached \(ReadTimeout\)"),
        (httpx.RemoteProtocolError(PLANTED), GovernanceUnavailable, r"cannot be reached"),
        (httpx.DecodingError(PLANTED), GovernanceUnavailable, r"gave no usable answer"),
        (httpx.TooManyRedirects(PLANTED), GovernanceUnavailable, r"gave no usable answer"),
        (
            httpx.HTTPStatusError(PLANTED, request=REQUEST, response=PROBLEM),
            NotFound,
            r"^project credit-risk not found$",
        ),
        (httpx.InvalidURL(PLANTED), InvalidInput, r"is not a valid URL for governance"),
        (httpx.StreamClosed(), MlgateError, r"misused its HTTP session \(StreamClosed\)"),
    ],
)
def test_httpx_errors_that_matter_map_to_their_class(
    raw: Exception, ours: type[MlgateError], message: str
) -> None:
    with pytest.raises(ours, match=message) as info, _translator():
        raise raw
    assert type(info.value) is ours
    assert info.value.__cause__ is raw
    assert PLANTED not in str(info.value)


@contextmanager
def _server(answer: bytes | None) -> Iterator[tuple[str, list[socket.socket]]]:
    """A TCP server on loopback that answers ``answer`` to each connection, or stays silent.

    Yields its URL and the connections it accepted.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(conn)
            if answer is not None:
                conn.recv(65536)
                conn.sendall(answer)
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def test_a_read_timeout_is_retried_for_a_read_but_not_for_a_plain_post() -> None:
    with _server(answer=None) as (url, accepted), GovernanceClient(url, "t", timeout=0.3) as gov:
        with pytest.raises(GovernanceUnavailable, match=r"\(ReadTimeout\) on GET /api/v1/health"):
            gov.health()
        assert len(accepted) == 4  # one call and three retries
        with pytest.raises(GovernanceUnavailable, match=r"\(ReadTimeout\) on POST"):
            gov.create_project("p")  # no idempotency key: the first call may have landed
        assert len(accepted) == 5


def test_a_server_speaking_no_http_is_unavailable_at_once() -> None:
    with (
        _server(answer=b"SSH-2.0-OpenSSH_9.6\r\n") as (url, accepted),
        GovernanceClient(url, "t", timeout=2) as gov,
        pytest.raises(GovernanceUnavailable, match=r"cannot be reached \(RemoteProtocolError\)"),
    ):
        gov.health()
    assert len(accepted) == 1
