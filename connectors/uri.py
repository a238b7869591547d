"""URI helpers shared by every connector: schemes, options, redaction, secret options.

A connector URI is ``scheme://authority/path?name=value&...``. Options are split by
hand rather than by ``urllib.parse``: a secret reference such as
``vault://secret/mlgate/s3#access_key`` may stand as an option value, and its ``#``
is part of the value, not a fragment. Values are percent-decoded.

Options that carry credentials must be secret *references* (``env://``, ``vault://``
or ``file://``); a literal value is refused without being echoed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

from connectors.errors import InvalidLocation

__all__ = ["SECRET_REF", "parse_options", "redact", "require_ref", "split_query", "split_scheme"]

_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)
SECRET_REF = re.compile(r"^(env|vault|file)://\S+$")


def split_scheme(uri: str) -> tuple[str | None, str]:
    """``("file", "data/x.csv")`` for ``file://data/x.csv``; ``(None, uri)`` without a scheme."""
    m = _SCHEME.match(uri)
    if m is None:
        return None, uri
    return m.group(1).lower(), uri[m.end() :]


def split_query(rest: str) -> tuple[str, str]:
    """``("bucket/key", "a=1&b=2")`` for ``bucket/key?a=1&b=2`` (no query: ``""``)."""
    location, _, query = rest.partition("?")
    return location, query


def redact(uri: str) -> str:
    """The URI fit for a message: user info and query string (where tokens hide) masked."""
    scheme, rest = split_scheme(uri)
    if scheme is None:
        return uri
    authority, sep, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    rest = authority + sep + path
    if "?" in rest:
        rest = rest.partition("?")[0] + "?***"
    return f"{scheme}://{rest}"


def parse_options(query: str, *, allowed: Iterable[str], origin: str) -> dict[str, str]:
    """The ``name=value`` options of a query string, checked against ``allowed``.

    Raises:
        InvalidLocation: an option is unknown, repeated or has no ``=`` (named, its
            value never shown).
    """
    known = set(allowed)
    options: dict[str, str] = {}
    if not query:
        return options
    for part in query.split("&"):
        if not part:
            continue
        name, eq, value = part.partition("=")
        if not eq:
            raise InvalidLocation(f"{origin}: option {name!r} has no value (name=value)")
        if name not in known:
            raise InvalidLocation(
                f"{origin}: unknown option {name!r}; known: {', '.join(sorted(known))}"
            )
        if name in options:
            raise InvalidLocation(f"{origin}: option {name!r} is given twice")
        options[name] = unquote(value)
    return options


def require_ref(name: str, value: str, *, origin: str) -> str:
    """``value`` if it is a secret reference; never a literal credential.

    Raises:
        InvalidLocation: ``value`` is not an ``env://``, ``vault://`` or ``file://``
            reference (the value is not shown: it may be a secret pasted in the wrong
            place).
    """
    if not SECRET_REF.match(value):
        raise InvalidLocation(
            f"{origin}: option {name!r} must be a secret reference (env://NAME, "
            "vault://mount/path#key or file:///path), not a value (value not shown)"
        )
    return value
