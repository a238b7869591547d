"""``vault://mount/path#key`` secret references, resolved with hvac (KV v2).

Settings come from the environment (``connectors.settings``, read on every resolution,
so a changed variable takes effect at once):

==============================  ======================================================
variable                        meaning
==============================  ======================================================
``MLGATE_VAULT_ADDR``           Vault (or OpenBao) URL, e.g. ``https://vault.internal:8200``
``MLGATE_VAULT_TOKEN``          token auth: the token
``MLGATE_VAULT_ROLE_ID``        AppRole auth: the role id (used when no token is set)
``MLGATE_VAULT_SECRET_ID``      AppRole auth: the secret id
``MLGATE_VAULT_APPROLE_MOUNT``  AppRole mount (default ``approle``)
``MLGATE_VAULT_NAMESPACE``      namespace (Vault Enterprise / OpenBao), optional
``MLGATE_VAULT_CACERT``         CA bundle to verify the server's TLS certificate
``MLGATE_VAULT_CACHE_TTL_S``    seconds a secret read is reused (default 30, 0 = never)
``MLGATE_VAULT_TIMEOUT_S``      seconds per request (default 5); 3 attempts at most
==============================  ======================================================

Tokens: the token's TTL is tracked and the token renewed once less than half of its
lease remains; with AppRole, a token that cannot be renewed (past its max TTL, revoked)
or a 403 leads to a fresh login, then the read is tried once more. A token given
directly cannot be replaced, so its expiry is a ``CredentialsError``.

Errors name the reference and what is wrong, never a value: a missing secret or key and
refused credentials are ``CredentialsError``; Vault down, sealed or timing out is
``SourceUnavailable`` after a bounded number of attempts with backoff. hvac's errors
(and those of requests, its transport) become ours in one place, ``vault_errors``;
``with_retries`` decides which of them are worth another attempt.

This module is imported on first use of a ``vault://`` reference (``connectors.secrets``),
so importing hvac at the top costs nothing to those who use none.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import hvac
import hvac.exceptions as hx
import requests
from pydantic import SecretStr

from connectors.errors import CredentialsError, SourceUnavailable
from connectors.settings import current_settings

__all__ = [
    "VaultRef",
    "VaultResolver",
    "VaultSettings",
    "parse_vault_ref",
    "resolve_vault",
    "vault_errors",
]

log = logging.getLogger(__name__)
T = TypeVar("T")
ATTEMPTS = 3
BACKOFF_S = (0.2, 0.6)
# What a retry can help: the connection, a timeout, a sealed or overloaded server.
RETRYABLE: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    hx.VaultDown,
    hx.InternalServerError,
    hx.BadGateway,
    hx.RateLimitExceeded,
)
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class VaultRef:
    """A parsed ``vault://mount/path#key``."""

    mount: str
    path: str
    key: str

    def __str__(self) -> str:
        return f"vault://{self.mount}/{self.path}#{self.key}"


def parse_vault_ref(ref: str) -> VaultRef:
    """Split ``vault://mount/path#key``.

    Raises:
        CredentialsError: the reference lacks a mount, a path or a key, or has unsafe
            segments (``..``, empty, characters outside ``[A-Za-z0-9._-]``).
    """
    body = ref.removeprefix("vault://")
    location, sep, key = body.partition("#")
    mount, _, path = location.partition("/")
    segments = [mount, *path.split("/")]
    if not sep or not path or not _KEY.fullmatch(key):
        raise CredentialsError(
            f"secret reference {ref!r} must have the form vault://mount/path#key"
        )
    if any(s in ("", ".", "..") or not _SEGMENT.fullmatch(s) for s in segments):
        raise CredentialsError(f"secret reference {ref!r} has an empty or unsafe path segment")
    return VaultRef(mount, path, key)


@contextmanager
def vault_errors(
    addr: str,
    what: str,
    *,
    refused: str | None = None,
    missing: str | None = None,
    invalid: str | None = None,
) -> Iterator[None]:
    """The one place hvac's errors (and those of requests, its transport) become ours.

    =====================================  ===============================================
    hvac / requests                        connectors
    =====================================  ===============================================
    ``Unauthorized`` (401)                 ``CredentialsError``: credentials refused
    ``Forbidden`` (403)                    ``CredentialsError``: ``refused``
    ``InvalidPath`` (404)                  ``CredentialsError``: ``missing``, if given
    ``InvalidRequest`` (400)               ``CredentialsError``: ``invalid``, if given
    ``VaultDown`` (503)                    ``SourceUnavailable``: sealed or down
    ``InternalServerError``,               ``SourceUnavailable``: cannot be reached
    ``BadGateway``, ``RateLimitExceeded``,
    ``ConnectionError``, ``Timeout``
    any other ``VaultError`` or            ``SourceUnavailable``
    ``RequestException``
    =====================================  ===============================================

    Args:
        addr: the Vault address, for messages.
        what: what was asked (a ``vault://`` reference, "token lookup"), for messages.
        refused, missing, invalid: what a 403, 404 or 400 means for this request (a
            token that may not read, a secret that does not exist, a refused login).

    Calls inside are expected to have been retried already (``with_retries``), so an
    error a retry could help says how many attempts were made. Messages never repeat
    Vault's answer, only its kind.
    """
    try:
        yield
    except hx.Unauthorized as exc:
        raise CredentialsError(f"Vault at {addr} refused the credentials ({what})") from exc
    except hx.Forbidden as exc:
        raise CredentialsError(refused or f"Vault at {addr} refused {what}") from exc
    except hx.InvalidPath as exc:
        if missing is None:
            raise SourceUnavailable(f"Vault at {addr} found no path for {what}") from exc
        raise CredentialsError(missing) from exc
    except hx.InvalidRequest as exc:
        if invalid is None:
            raise SourceUnavailable(f"Vault at {addr} refused the request ({what})") from exc
        raise CredentialsError(invalid) from exc
    except RETRYABLE as exc:
        state = "is sealed or down" if isinstance(exc, hx.VaultDown) else "cannot be reached"
        raise SourceUnavailable(
            f"Vault at {addr} {state} ({what}; {ATTEMPTS} attempts, {type(exc).__name__})"
        ) from exc
    except (hx.VaultError, requests.RequestException) as exc:
        raise SourceUnavailable(
            f"Vault at {addr} could not serve {what} ({type(exc).__name__})"
        ) from exc


def with_retries(fn: Callable[[], T]) -> T:
    """``fn()``, called again with backoff after an error in ``RETRYABLE`` (``ATTEMPTS`` in
    all); any other error, or the last attempt's, is raised as it is, for ``vault_errors``.
    """
    for attempt in range(ATTEMPTS):
        try:
            return fn()
        except RETRYABLE:
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class VaultSettings:
    """Where Vault is and how to log in (secret fields hidden in repr)."""

    addr: str
    token: SecretStr | None = None
    role_id: SecretStr | None = None
    secret_id: SecretStr | None = None
    approle_mount: str = "approle"
    namespace: str | None = None
    cacert: str | None = None
    cache_ttl_s: float = 30.0
    timeout_s: float = 5.0

    @classmethod
    def from_env(cls) -> VaultSettings:
        """The settings from the ``MLGATE_VAULT_*`` variables (``connectors.settings``).

        Raises:
            CredentialsError: no address, or neither a token nor a role id and secret id.
            InvalidLocation: a variable's value is refused.
        """
        current = current_settings()
        if current.vault_addr is None:
            raise CredentialsError(
                "vault:// references need MLGATE_VAULT_ADDR (http(s)://host:port of Vault)"
            )
        settings = cls(
            addr=current.vault_addr.rstrip("/"),
            token=current.vault_token,
            role_id=current.vault_role_id,
            secret_id=current.vault_secret_id,
            approle_mount=current.vault_approle_mount,
            namespace=current.vault_namespace,
            cacert=None if current.vault_cacert is None else str(current.vault_cacert),
            cache_ttl_s=current.vault_cache_ttl_s,
            timeout_s=current.vault_timeout_s,
        )
        if settings.token is None and (settings.role_id is None or settings.secret_id is None):
            raise CredentialsError(
                "vault:// references need MLGATE_VAULT_TOKEN, or MLGATE_VAULT_ROLE_ID and "
                "MLGATE_VAULT_SECRET_ID for AppRole"
            )
        return settings

    @property
    def uses_approle(self) -> bool:
        return self.token is None


@dataclass
class VaultStats:
    """Counters a caller can watch (logins, renewals, reads from Vault, cache hits)."""

    logins: int = 0
    renewals: int = 0
    failed_renewals: int = 0
    reads: int = 0
    cache_hits: int = 0


@dataclass
class _Cached:
    expires: float
    data: dict[str, SecretStr] = field(repr=False)


class VaultResolver:
    """Reads KV v2 secrets, keeping its token alive; safe to share between threads."""

    def __init__(self, settings: VaultSettings) -> None:
        self.settings = settings
        self.stats = VaultStats()
        self._lock = threading.RLock()
        self._cache: dict[tuple[str, str], _Cached] = {}
        self._client = hvac.Client(
            url=settings.addr,
            # "" rather than None: hvac would otherwise pick up VAULT_TOKEN or ~/.vault-token.
            token=settings.token.get_secret_value() if settings.token else "",
            timeout=settings.timeout_s,
            verify=settings.cacert if settings.cacert else True,
            namespace=settings.namespace,
        )
        self._expires_at: float | None = None  # None: unknown yet; inf: never expires
        self._lease_s = 0.0
        self._renewable = False

    def __repr__(self) -> str:
        return f"VaultResolver({self.settings.addr!r})"

    def resolve(self, ref: VaultRef) -> SecretStr:
        """The value of ``ref`` (from the cache when read less than ``cache_ttl_s`` ago).

        Raises:
            CredentialsError: missing secret or key, refused or expired credentials.
            SourceUnavailable: Vault cannot be reached, is sealed or keeps failing.
        """
        with self._lock:
            cached = self._cache.get((ref.mount, ref.path))
            if cached is not None and cached.expires > time.monotonic():
                self.stats.cache_hits += 1
                data = cached.data
            else:
                data = self._read(ref)
                if self.settings.cache_ttl_s > 0:
                    expires = time.monotonic() + self.settings.cache_ttl_s
                    self._cache[(ref.mount, ref.path)] = _Cached(expires, data)
        value = data.get(ref.key)
        if value is None:
            raise CredentialsError(
                f"secret vault://{ref.mount}/{ref.path} has no key {ref.key!r} "
                f"(keys: {', '.join(sorted(data)) or 'none'})"
            )
        return value

    # --- reading ----------------------------------------------------------------------

    def _read(self, ref: VaultRef) -> dict[str, SecretStr]:
        def read() -> dict[str, Any]:
            response: dict[str, Any] = self._client.secrets.kv.v2.read_secret_version(
                path=ref.path, mount_point=ref.mount, raise_on_deleted_version=True
            )
            return response

        addr, where = self.settings.addr, f"vault://{ref.mount}/{ref.path}"
        refused = (
            f"Vault at {addr}: the AppRole may not read {where}"
            if self.settings.uses_approle
            else f"Vault at {addr} refused the token for {where} "
            "(expired, revoked or not allowed to read it)"
        )
        self._ensure_token()
        with vault_errors(
            addr, where, refused=refused, missing=f"secret {where} does not exist in Vault"
        ):
            try:
                response = with_retries(read)
            except hx.Forbidden:
                if not self.settings.uses_approle:
                    raise
                self._login()  # expired or revoked meanwhile: one fresh login, one more try
                response = with_retries(read)
        self.stats.reads += 1
        raw = response.get("data", {}).get("data") or {}
        return {str(k): SecretStr(str(v)) for k, v in raw.items()}

    # --- the token ----------------------------------------------------------------------

    def _ensure_token(self) -> None:
        if self._expires_at is None:
            if self.settings.uses_approle:
                self._login()
            else:
                self._lookup_token()
        remaining = (self._expires_at or 0.0) - time.monotonic()
        if remaining > max(self._lease_s / 2, 1.0):
            return
        if self._renewable and remaining > 0 and self._renew():
            return
        if self.settings.uses_approle:
            self._login()
        elif remaining <= 0:
            raise CredentialsError(
                f"the Vault token (MLGATE_VAULT_TOKEN) for {self.settings.addr} has expired "
                "and cannot be renewed"
            )

    def _lookup_token(self) -> None:
        addr = self.settings.addr
        refused = (
            f"Vault at {addr} refused the token (MLGATE_VAULT_TOKEN): expired, revoked or unknown"
        )
        with vault_errors(addr, "token lookup", refused=refused):
            data = with_retries(self._client.auth.token.lookup_self)["data"]
        ttl = float(data.get("ttl") or 0)
        self._set_lease(ttl, bool(data.get("renewable")))

    def _renew(self) -> bool:
        with vault_errors(self.settings.addr, "token renewal"):
            try:
                auth = with_retries(self._client.auth.token.renew_self)["auth"]
            except (hx.Forbidden, hx.InvalidRequest):
                # Past its max TTL or revoked: not an error, the caller logs in instead.
                self.stats.failed_renewals += 1
                log.info("the Vault token at %s could not be renewed", self.settings.addr)
                return False
        lease = float(auth.get("lease_duration") or 0)
        previous = (self._expires_at or 0.0) - time.monotonic()
        self._set_lease(lease, bool(auth.get("renewable")))
        self.stats.renewals += 1
        log.debug("renewed the Vault token at %s (lease %.0f s)", self.settings.addr, lease)
        # Capped by the max TTL, a renewal stops extending the token: log in instead.
        return lease > previous + 0.5 or not self.settings.uses_approle

    def _login(self) -> None:
        role_id, secret_id = self.settings.role_id, self.settings.secret_id
        assert role_id is not None and secret_id is not None

        def login() -> dict[str, Any]:
            response: dict[str, Any] = self._client.auth.approle.login(
                role_id=role_id.get_secret_value(),
                secret_id=secret_id.get_secret_value(),
                mount_point=self.settings.approle_mount,
                use_token=True,
            )
            return response

        addr = self.settings.addr
        # Vault answers a wrong role or secret id with 400, an unknown mount with 404.
        refused = (
            f"Vault at {addr} refused the AppRole login (MLGATE_VAULT_ROLE_ID / "
            f"MLGATE_VAULT_SECRET_ID, mount {self.settings.approle_mount!r})"
        )
        with vault_errors(addr, "AppRole login", refused=refused, missing=refused, invalid=refused):
            auth = with_retries(login)["auth"]
        self.stats.logins += 1
        log.info(
            "logged in to Vault at %s with AppRole (token lease %s s)",
            addr,
            auth.get("lease_duration"),
        )
        self._set_lease(float(auth.get("lease_duration") or 0), bool(auth.get("renewable")))

    def _set_lease(self, ttl: float, renewable: bool) -> None:
        self._lease_s = ttl
        self._renewable = renewable
        self._expires_at = time.monotonic() + ttl if ttl > 0 else float("inf")


_RESOLVER: VaultResolver | None = None
_RESOLVER_LOCK = threading.Lock()


def current_resolver() -> VaultResolver:
    """The process's resolver, rebuilt when the ``MLGATE_VAULT_*`` settings change.

    Raises:
        CredentialsError: the settings are incomplete (see ``VaultSettings.from_env``).
    """
    global _RESOLVER
    settings = VaultSettings.from_env()
    with _RESOLVER_LOCK:
        if _RESOLVER is None or _RESOLVER.settings != settings:
            _RESOLVER = VaultResolver(settings)
        return _RESOLVER


def resolve_vault(ref: str) -> SecretStr:
    """The value a ``vault://mount/path#key`` reference names.

    Raises:
        CredentialsError, SourceUnavailable: see ``VaultResolver.resolve``.
    """
    return current_resolver().resolve(parse_vault_ref(ref))
