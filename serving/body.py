"""Request bodies: read up to the server's limit, then parsed as JSON.

A body is refused as soon as it is known to be too large — from its declared
``Content-Length`` or while it streams in — so an oversized request never fills memory.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from serving.errors import BodyTooLarge, InvalidJson

__all__ = ["parse_json", "read_body"]


async def read_body(request: Request, limit: int) -> bytes:
    """The whole request body.

    Raises:
        BodyTooLarge: it is, or says it is, longer than ``limit`` bytes.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """The JSON value of a body (any JSON value: the caller checks its shape).

    Raises:
        InvalidJson: the body is not valid JSON.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidJson(f"the request body is not valid JSON: {exc}") from exc
