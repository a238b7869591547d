"""One S3 object read over HTTP range requests, as a seekable file.

Memory stays bounded whatever the object's size, a connection that drops mid-object is
resumed where it stopped, and every range is pinned to the object's ETag, so an object
replaced while it is read fails instead of mixing two versions.
"""

from __future__ import annotations

import io
from typing import Any

from connectors.errors import SourceUnavailable
from connectors.s3client import S3Config, s3_errors

__all__ = ["RESUME_ATTEMPTS", "WINDOW_MAX", "WINDOW_MIN", "S3ObjectReader"]

RESUME_ATTEMPTS = 3  # re-opening a body that dropped mid-object
WINDOW_MIN = 256 << 10  # bounded ranges (headers, footers, random access) start here
WINDOW_MAX = 16 << 20


class S3ObjectReader(io.RawIOBase):
    """A seekable, read-only view of one S3 object over HTTP range requests.

    In streaming mode (``to_end``) the first read opens one range to the end of the
    object and later reads continue that response. After a seek, or in windowed mode,
    ranges are bounded (``WINDOW_MIN`` doubling up to ``WINDOW_MAX`` while reads stay
    sequential), so a header or a parquet footer does not ask for the whole object.
    A body that drops mid-range is re-opened at the current position
    (``RESUME_ATTEMPTS`` times); every range is pinned to the ETag seen first, so an
    object replaced meanwhile fails instead of mixing two versions.
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        *,
        size: int,
        etag: str,
        config: S3Config,
        to_end: bool = True,
    ) -> None:
        super().__init__()
        self._client, self._bucket, self._key = client, bucket, key
        self._size, self._etag, self._config = size, etag, config
        self._to_end = to_end
        self._window = WINDOW_MIN
        self._pos = 0
        self._body: Any = None
        self._body_end = 0
        self.what = f"S3 object s3://{bucket}/{key}"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        target = max(base + offset, 0)
        if target != self._pos:
            self._drop_body()
            self._pos = target
            self._to_end = False  # random access from now on: bounded ranges
            self._window = WINDOW_MIN
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._pos >= self._size or len(view) == 0:
            return 0
        failures = 0
        while True:
            if self._body is None or self._pos >= self._body_end:
                self._drop_body()
                self._open(len(view))
            dropped: SourceUnavailable | None = None
            try:
                with s3_errors(self.what, bucket=self._bucket, config=self._config):
                    data = self._body.read(min(len(view), self._body_end - self._pos))
            except SourceUnavailable as exc:  # the stream dropped: resume below
                data, dropped = b"", exc
            if data:
                n = len(data)
                view[:n] = data
                self._pos += n
                return n
            self._drop_body()  # dropped or ended early: resume from where it stopped
            failures += 1
            if failures > RESUME_ATTEMPTS:
                why = type(dropped.__cause__).__name__ if dropped else "early end"
                raise SourceUnavailable(
                    f"{self.what}: the connection dropped {failures} times while reading "
                    f"at byte {self._pos} ({why})"
                ) from dropped

    def close(self) -> None:
        self._drop_body()
        super().close()

    def _open(self, wanted: int) -> None:
        if self._to_end:
            end = self._size
        else:
            end = min(self._size, self._pos + max(wanted, self._window))
            self._window = min(self._window * 2, WINDOW_MAX)
        # Pinned to the ETag: an object replaced meanwhile fails its precondition, which
        # s3_errors reports as changed while it was being read.
        with s3_errors(self.what, bucket=self._bucket, config=self._config):
            response = self._client.get_object(
                Bucket=self._bucket,
                Key=self._key,
                Range=f"bytes={self._pos}-{end - 1}",
                IfMatch=self._etag,
            )
        self._body = response["Body"]
        self._body_end = end

    def _drop_body(self) -> None:
        if self._body is not None:
            try:
                self._body.close()
            finally:
                self._body = None
