"""Plain factories for the connectors tests: a contract with every type, rows, CSV files."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

from connector_servers import unique

from core.spec import DataContract


def make_contract() -> DataContract:
    """A contract with one column of every type."""
    return DataContract.model_validate(
        {
            "columns": [
                {"name": "application_id", "type": "string", "role": "id"},
                {"name": "age", "type": "int", "min": 18, "max": 100},
                {"name": "income", "type": "float", "nullable": True},
                {"name": "purpose", "type": "category", "allowed": ["car", "home", "other"]},
                {"name": "verified", "type": "bool"},
                {"name": "applied_at", "type": "datetime", "role": "timestamp"},
                {"name": "defaulted", "type": "int", "role": "target", "allowed": [0, 1]},
            ]
        }
    )


def make_rows(n: int, *, seed: int = 7) -> list[dict[str, object]]:
    """``n`` random rows that follow ``make_contract()`` (income sometimes missing)."""
    rng = random.Random(seed)
    start = dt.datetime(2024, 1, 1)
    return [
        {
            "application_id": f"app-{i:06d}",
            "age": rng.randint(18, 100),
            "income": None if rng.random() < 0.1 else round(rng.uniform(0, 200_000), 2),
            "purpose": rng.choice(["car", "home", "other"]),
            "verified": rng.random() < 0.5,
            "applied_at": start + dt.timedelta(minutes=rng.randint(0, 500_000)),
            "defaulted": rng.randint(0, 1),
        }
        for i in range(n)
    ]


def write_csv(path: Path, rows: list[dict[str, object]], *, extra: bool = False) -> Path:
    """Rows as CSV text the way a user's export looks (ISO timestamps, empty for null)."""
    names = list(rows[0]) + (["note"] if extra else [])
    lines = [",".join(names)]
    for row in rows:
        cells = []
        for name in names:
            value = row.get(name, "free text")
            if value is None:
                cells.append("")
            elif isinstance(value, bool):
                cells.append("true" if value else "false")
            elif isinstance(value, dt.datetime):
                cells.append(value.isoformat(sep=" "))
            else:
                cells.append(str(value))
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# Keys (or URI tails) that try to leave an artifact store: traversal in every spelling we
# could think of. Each must be refused by both stores, with nothing written anywhere.
HOSTILE_KEYS = [
    "../x",
    "a/../../x",
    "models/ab/../../../x",
    "/etc/passwd",
    "//etc/passwd",
    "..\\x",
    "models\\ab\\x",
    "%2e%2e/x",
    "%2E%2E%2Fx",
    "a%2fb",
    "%252e%252e/x",
    "models/ab/x\x00.skops",
    "models//ab",
    "./models",
    "models/./ab",
    "",
    "..",
    "\u2025/x",  # two-dot leader
    "\uff0e\uff0e/x",  # fullwidth full stops
    "models\u2215ab",  # division slash
    "models\uff0fab",  # fullwidth solidus
    "mod\u0435ls/ab/x",  # Cyrillic e
    "models/ab/x\u200b.skops",  # zero-width space
    "models/ab/\n.skops",
]


# --- Snowflake (fakesnow server) ------------------------------------------------------

DDL = (
    "CREATE TABLE {db}.{schema}.{table} (application_id VARCHAR, age NUMBER(38,0), "
    "income FLOAT, purpose VARCHAR, verified BOOLEAN, applied_at TIMESTAMP_NTZ, "
    "defaulted NUMBER(38,0), note VARCHAR)"
)


def load_table(server: dict[str, Any], rows: list[dict[str, object]]) -> tuple[str, str, str]:
    """A new database, schema and table holding ``rows`` (created with the connector)."""
    db, schema, table = (unique(p).upper().replace("-", "_") for p in ("db", "sc", "apps"))
    import snowflake.connector

    kwargs = {k: v for k, v in server.items() if k != "network_timeout"}
    with snowflake.connector.connect(**kwargs) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(f"CREATE SCHEMA {db}.{schema}")
        cur.execute(DDL.format(db=db, schema=schema, table=table))
        values = [
            (
                r["application_id"],
                r["age"],
                r["income"],
                r["purpose"],
                r["verified"],
                r["applied_at"].isoformat(sep=" ")
                if isinstance(r["applied_at"], dt.datetime)
                else None,
                r["defaulted"],
                "free text",
            )
            for r in rows
        ]
        cur.executemany(
            f"INSERT INTO {db}.{schema}.{table} VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", values
        )
    return db, schema, table


def snowflake_uri(server: dict[str, Any], db: str, schema: str, **options: str) -> str:
    """A snowflake:// URI for fakesnow, its password an env:// reference."""
    opts = {
        "host": server["host"],
        "port": str(server["port"]),
        "protocol": server["protocol"],
        "user": server["user"],
        "password": "env://MLGATE_TEST_SF_PASSWORD",
        "login_timeout": "10",
        **options,
    }
    query = "&".join(f"{k}={v}" for k, v in opts.items())
    return f"snowflake://{server['account']}/{db}/{schema}?{query}"
