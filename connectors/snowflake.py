"""``snowflake://account/database/schema?table=…`` (or ``?query=…``) sources.

Read with snowflake-connector-python as Arrow batches (``fetch_arrow_batches``), so
the result streams chunk by chunk. Options:

- ``table`` — table to read (``SELECT *``), or ``query`` — a query (percent-encoded);
- ``user`` (``MLGATE_SNOWFLAKE_USER``) — a user name, or a secret reference;
- ``password`` (``MLGATE_SNOWFLAKE_PASSWORD_REF``) — a secret reference, never a value;
- ``role``, ``warehouse``, ``host``, ``port``, ``protocol`` (``MLGATE_SNOWFLAKE_ROLE``,
  ``…_WAREHOUSE``, ``…_HOST``, ``…_PORT``, ``…_PROTOCOL``): host defaults to
  ``<account>.snowflakecomputing.com``, protocol to ``https``;
- ``login_timeout`` — seconds to log in (default 30).

Snowflake upper-cases unquoted names, so result columns are matched to the contract
without regard to case, then conformed (types cast to the contract's: NUMBER(38,0) to
int64, TIMESTAMP_NTZ to microseconds); the snapshot of the same data is then
byte-identical to one ingested from a file or S3.

The connector's telemetry is off (session parameters here; platform detection in
``core.offline``, applied by every entry point). Its errors become ours in one place,
``snowflake_errors``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.errors import (
    CredentialsError,
    InvalidLocation,
    SchemaMismatch,
    SourceNotFound,
    SourceUnavailable,
)
from connectors.formats import BatchStream
from connectors.schema import arrow_schema, conform_batch
from connectors.secrets import resolve_secret
from connectors.settings import current_settings
from connectors.sources import register_source
from connectors.uri import (
    SECRET_REF,
    parse_options,
    redact,
    require_ref,
    split_query,
    split_scheme,
)
from core.spec import DataContract

__all__ = ["SESSION_PARAMETERS", "connect_kwargs", "parse_snowflake_uri", "snowflake_errors"]

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,254}")
ACCOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
OPTIONS = (
    "table",
    "query",
    "user",
    "password",
    "role",
    "warehouse",
    "host",
    "port",
    "protocol",
    "login_timeout",
)
SESSION_PARAMETERS: dict[str, Any] = {
    "CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False,
    "CLIENT_TELEMETRY_ENABLED": False,
}
# Error numbers of refused logins (wrong or expired credentials, locked user).
AUTH_ERRNOS = {390100, 390101, 390102, 390104, 390114, 390144, 390318, 390422}
NOT_FOUND_ERRNOS = {2003, 2043}


def parse_snowflake_uri(uri: str) -> tuple[dict[str, Any], str, str]:
    """Connection arguments, the SQL to run and a name for messages.

    Raises:
        InvalidLocation: the URI lacks account, database or schema, names neither (or
            both) a table and a query, has an unknown option or a bad identifier.
    """
    scheme, rest = split_scheme(uri)
    if scheme != "snowflake":
        raise InvalidLocation(f"{redact(uri)} is not a snowflake:// URI")
    location, query = split_query(rest)
    parts = location.strip("/").split("/")
    origin = f"snowflake://{location}"
    if len(parts) != 3 or not ACCOUNT.fullmatch(parts[0]):
        raise InvalidLocation(f"{origin}: expected snowflake://account/database/schema?table=…")
    account, database, schema = parts
    for name, value in (("database", database), ("schema", schema)):
        if not IDENTIFIER.fullmatch(value):
            raise InvalidLocation(f"{origin}: {name} {value!r} is not a plain identifier")
    options = parse_options(query, allowed=OPTIONS, origin=origin)
    table, sql = options.pop("table", None), options.pop("query", None)
    if (table is None) == (sql is None):
        raise InvalidLocation(f"{origin}: give exactly one of table=… or query=…")
    if table is not None:
        if not IDENTIFIER.fullmatch(table):
            raise InvalidLocation(f"{origin}: table {table!r} is not a plain identifier")
        sql = f"SELECT * FROM {database}.{schema}.{table}"
        what = f"Snowflake table {database}.{schema}.{table}"
    else:
        what = f"Snowflake query on {account}/{database}/{schema}"
    assert sql is not None
    return connect_kwargs(account, database, schema, options, origin=origin), sql, what


def connect_kwargs(
    account: str, database: str, schema: str, options: dict[str, str], *, origin: str
) -> dict[str, Any]:
    """Keyword arguments for ``snowflake.connector.connect`` (secrets resolved).

    Options win over the ``MLGATE_SNOWFLAKE_*`` settings (``connectors.settings``).

    Raises:
        InvalidLocation: a bad port, protocol or timeout, a password that is a value, or
            a refused setting.
        CredentialsError, SourceUnavailable: a reference cannot be resolved.
    """
    settings = current_settings()
    kwargs: dict[str, Any] = {
        "account": account,
        "database": database,
        "schema": schema,
        "session_parameters": dict(SESSION_PARAMETERS),
        "network_timeout": 60,
        "client_session_keep_alive": False,
    }
    user = options.get("user") or settings.snowflake_user
    if user is not None:
        kwargs["user"] = resolve_secret(user).get_secret_value() if SECRET_REF.match(user) else user
    password = options.get("password") or None
    if password is not None:
        require_ref("password", password, origin=origin)
    password = password or settings.snowflake_password_ref  # a reference: checked as set
    if password is not None:
        kwargs["password"] = resolve_secret(password).get_secret_value()
    for option, default in (
        ("role", settings.snowflake_role),
        ("warehouse", settings.snowflake_warehouse),
        ("host", settings.snowflake_host),
    ):
        if (value := options.get(option) or default) is not None:
            kwargs[option] = value
    port = options.get("port")
    if port:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidLocation(f"{origin}: port must be a number from 1 to 65535")
        kwargs["port"] = int(port)
    elif settings.snowflake_port is not None:
        kwargs["port"] = settings.snowflake_port
    protocol = options.get("protocol") or settings.snowflake_protocol or "https"
    if protocol not in ("http", "https"):
        raise InvalidLocation(f"{origin}: protocol must be http or https")
    kwargs["protocol"] = protocol
    timeout = options.get("login_timeout", "30")
    if not timeout.isdigit() or not 1 <= int(timeout) <= 600:
        raise InvalidLocation(f"{origin}: login_timeout must be 1 to 600 seconds")
    kwargs["login_timeout"] = int(timeout)
    return kwargs


@contextmanager
def snowflake_errors(what: str, where: str) -> Iterator[None]:
    """The one place the Snowflake connector's errors become ours, naming ``what``.

    ==============================================  ==================================
    snowflake.connector.errors                      connectors
    ==============================================  ==================================
    ``ProgrammingError`` 2003, 2043                 ``SourceNotFound`` (or not visible)
    a refused login (``AUTH_ERRNOS``),              ``CredentialsError``
    ``ForbiddenError``, ``TokenExpiredError``
    any other ``ProgrammingError``                  ``InvalidLocation`` (the statement)
    any other ``Error``                             ``SourceUnavailable``
    ==============================================  ==================================

    Messages carry the error number, never the connector's text (it may quote the
    statement, which may quote data).
    """
    # Imported here rather than at the top: see _read_snowflake.
    import snowflake.connector.errors as sf

    try:
        yield
    except sf.Error as exc:
        errno = exc.errno
        if isinstance(exc, sf.ProgrammingError) and errno in NOT_FOUND_ERRNOS:
            raise SourceNotFound(f"{what} does not exist or is not visible to this role") from exc
        if errno in AUTH_ERRNOS or isinstance(exc, (sf.ForbiddenError, sf.TokenExpiredError)):
            raise CredentialsError(
                f"{what}: Snowflake at {where} refused the credentials (error {errno})"
            ) from exc
        if isinstance(exc, sf.ProgrammingError):
            raise InvalidLocation(
                f"{what}: Snowflake refused the statement (error {errno})"
            ) from exc
        raise SourceUnavailable(
            f"{what}: Snowflake at {where} cannot be reached ({type(exc).__name__}, error {errno})"
        ) from exc


def _align(table: pa.Table, contract: DataContract) -> pa.Table:
    """Rename result columns to the contract's names, ignoring case (Snowflake upper-cases)."""
    wanted = {n.upper(): n for n in contract.names}
    names = [wanted.get(n.upper(), n) if n not in contract.names else n for n in table.column_names]
    return table.rename_columns(names)


def _batches(
    conn: Any,
    tables: Iterator[pa.Table],
    contract: DataContract | None,
    what: str,
    where: str,
    rows: int,
) -> Iterator[pa.RecordBatch]:
    offset = 0
    try:
        with snowflake_errors(what, where):
            for table in tables:
                if contract is not None:
                    table = _align(table, contract)
                for batch in table.to_batches(max_chunksize=rows):
                    if contract is not None:
                        batch = conform_batch(batch, contract, origin=what, row_offset=offset)
                    offset += batch.num_rows
                    yield batch
    finally:
        conn.close()


def _read_snowflake(
    uri: str, contract: DataContract | None, base_dir: Path | None, batch_rows: int
) -> BatchStream:
    del base_dir
    kwargs, sql, what = parse_snowflake_uri(uri)
    where = kwargs.get("host") or f"{kwargs['account']}.snowflakecomputing.com"
    # Imported here rather than at the top: the connector takes about 1.5 s to load, which
    # importing connectors (every CLI command, every flow) should not pay when no
    # snowflake:// source is read.
    import snowflake.connector

    with snowflake_errors(what, where):
        conn = snowflake.connector.connect(**kwargs)
    try:
        with snowflake_errors(what, where):
            cursor = conn.cursor()
            cursor.execute(sql)
            tables: Iterator[pa.Table] = cursor.fetch_arrow_batches()
            if contract is not None:
                names = [d.name for d in cursor.description]
                aligned = _align(pa.table({n: [] for n in names}), contract).column_names
                missing = [n for n in contract.names if n not in aligned]
                if missing:
                    raise SchemaMismatch(
                        f"{what}: missing column(s) required by the data contract: "
                        f"{', '.join(missing)}"
                    )
                schema = arrow_schema(contract)
            else:  # the types are known once the first chunk is fetched
                first = next(tables, None)
                if first is None:
                    schema = pa.schema([pa.field(d.name, pa.null()) for d in cursor.description])
                else:
                    schema = first.schema
                    tables = itertools.chain([first], tables)
    except BaseException:
        conn.close()
        raise
    return BatchStream(schema, _batches(conn, tables, contract, what, where, batch_rows))


register_source("snowflake", _read_snowflake)
