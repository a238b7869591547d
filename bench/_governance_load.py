"""Load generator of ``bench/governance_api.py``: runs in its own process.

Reads one JSON object (the two servers' URLs and the load settings) from argv[1], drives
mlgate governance and then the MLflow registry with ``clients`` concurrent HTTP clients
per phase (each first idle, then warmed up with ``warmup`` of every operation on a
project or model of its own), and prints one JSON object: per operation the count,
errors, requests/s, p50/p99 in ms and server CPU per request, plus the consistency
checks (no lost or duplicated versions).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx

Op = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]
_TICKS = os.sysconf("SC_CLK_TCK")
# Process group of the server under load (its CPU time is measured per phase), by system.
_PGID: dict[str, int] = {}
_current: list[str] = []


def _group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of every live process in process group ``pgid``."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                fields = handle.read().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields[0] is the state; [2] the process group
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


async def _phase(
    client: httpx.AsyncClient, op: Op, items: Sequence[int], clients: int, seconds: float
) -> tuple[dict[str, Any], list[tuple[int, httpx.Response]]]:
    """Run ``op`` over ``items`` with ``clients`` concurrent workers, up to ``seconds``."""
    queue = list(reversed(items))
    latencies: list[float] = []
    done: list[tuple[int, httpx.Response]] = []
    errors: dict[str, int] = {}
    samples: dict[str, str] = {}
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while queue and time.perf_counter() < deadline:
            item = queue.pop()
            start = time.perf_counter()
            try:
                response = await op(client, item)
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            latencies.append(time.perf_counter() - start)
            if response.is_success:
                done.append((item, response))
            else:
                key = str(response.status_code)
                errors[key] = errors.get(key, 0) + 1
                samples.setdefault(key, response.text[:300])

    pgid = _PGID[_current[0]]
    cpu = _group_cpu_seconds(pgid)
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    wall = time.perf_counter() - start
    cpu = _group_cpu_seconds(pgid) - cpu
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return float("nan")
        return 1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))]

    stats = {
        "ok": len(done),
        "errors": errors,
        "seconds": round(wall, 3),
        "rps": round(len(done) / wall, 1) if wall else 0.0,
        "p50_ms": round(pct(0.50), 1),
        "p99_ms": round(pct(0.99), 1),
        # Server CPU per successful request: steadier than req/s on a busy machine.
        "cpu_ms_per_op": round(1000 * cpu / len(done), 2) if done else None,
    }
    if samples:
        stats["error_samples"] = samples
    return stats, done


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def _mlgate(
    url: str, admin_token: str, n: int, clients: int, seconds: float
) -> dict[str, Any]:
    api = f"{url}/api/v1"
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=api, limits=limits, timeout=30.0) as http:

        async def post(path: str, token: str, body: dict[str, Any]) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": secrets.token_hex(8)}
            return await http.post(path, json=body, headers=headers)

        async def principal(role: str) -> str:
            r = await post(
                "/principals", admin_token, {"name": f"{role}-{secrets.token_hex(3)}", "role": role}
            )
            r.raise_for_status()
            return str(r.json()["token"])

        dev = await principal("developer")
        first = await principal("approver")
        second = await principal("approver")
        project = f"bench-{secrets.token_hex(3)}"
        policy = {"required_approvals": 2, "require_validation": True, "metric_floors": {}}
        r = await post(
            "/projects", dev, {"name": project, "description": "bench", "policy": policy}
        )
        r.raise_for_status()
        base = f"/projects/{project}"
        r = await post(
            f"{base}/datasets",
            dev,
            {
                "source": "s3://raw/applications.csv",
                "snapshot_uri": f"s3://snap/{project}.parquet",
                "content_hash": _sha(project),
                "row_count": 1000,
                "contract_version": 1,
            },
        )
        r.raise_for_status()
        r = await post(f"{base}/datasets/1/validation", dev, {"passed": True, "summary": {}})
        r.raise_for_status()

        async def register(c: httpx.AsyncClient, i: int) -> httpx.Response:
            return await post(
                f"{base}/models",
                dev,
                {
                    "algorithm": "random_forest",
                    "params": {"n_estimators": 100, "i": i},
                    "metrics": {"roc_auc": 0.8},
                    "artifact_uri": f"s3://models/{project}/{i}.skops",
                    "sha256": _sha(str(i)),
                    "dataset_version": 1,
                    "code_version": "0.1.0",
                },
            )

        out: dict[str, Any] = {}
        out["register"], done = await _phase(http, register, range(n), clients, seconds)
        versions = sorted(int(resp.json()["version"]) for _, resp in done)

        async def request(c: httpx.AsyncClient, v: int) -> httpx.Response:
            return await post(
                f"{base}/promotion-requests", dev, {"model_version": v, "stage": "production"}
            )

        out["request_promotion"], done = await _phase(http, request, versions, clients, seconds)
        requests = {v: str(resp.json()["id"]) for v, resp in done}
        ids = list(requests)

        def decide(token: str) -> Op:
            async def op(c: httpx.AsyncClient, v: int) -> httpx.Response:
                return await post(
                    f"/promotion-requests/{requests[v]}/decisions", token, {"decision": "approve"}
                )

            return op

        out["approve"], done = await _phase(http, decide(first), ids, clients, seconds)
        approved = [v for v, _ in done]
        # The second approval opens the gate: it assigns production (the promotion).
        out["promote"], done = await _phase(http, decide(second), approved, clients, seconds)

        async def lineage(c: httpx.AsyncClient, v: int) -> httpx.Response:
            return await http.get(
                f"{base}/models/{v}/lineage", headers={"Authorization": f"Bearer {dev}"}
            )

        out["lineage"], _ = await _phase(http, lineage, versions, clients, seconds)

        # Consistency: every acknowledged version stored once, numbered without gaps.
        auth = {"Authorization": f"Bearer {admin_token}"}
        stored: list[int] = []
        offset = 0
        while True:
            r = await http.get(
                f"{base}/models", params={"limit": 500, "offset": offset}, headers=auth
            )
            r.raise_for_status()
            page = [int(m["version"]) for m in r.json()]
            stored += page
            if len(page) < 500:
                break
            offset += 500
        history = (await http.get(f"{base}/stages", params={"limit": 1000}, headers=auth)).json()
        current = [a for a in history if a["stage"] == "production" and a["ended_at"] is None]
        verify = (await http.get("/audit/verify", headers=auth)).json()
        out["checks"] = {
            "acknowledged": len(versions),
            "stored": len(stored),
            "duplicates": len(stored) - len(set(stored)),
            "lost": len(set(versions) - set(stored)),
            "gapless": sorted(stored) == list(range(1, len(stored) + 1)),
            "current_production": len(current),
            "audit_ok": bool(verify.get("ok")),
            "audit_events": verify.get("events_checked"),
        }
        return out


async def _mlflow(url: str, n: int, clients: int, seconds: float) -> dict[str, Any]:
    api = f"{url}/api/2.0/mlflow"
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=api, limits=limits, timeout=30.0) as http:
        name = f"bench-{secrets.token_hex(3)}"
        (await http.post("/registered-models/create", json={"name": name})).raise_for_status()

        async def create(c: httpx.AsyncClient, i: int) -> httpx.Response:
            return await http.post(
                "/model-versions/create",
                json={
                    "name": name,
                    "source": f"s3://models/{name}/{i}",
                    "tags": [{"key": "sha256", "value": _sha(str(i))}],
                },
            )

        out: dict[str, Any] = {}
        out["create_version"], done = await _phase(http, create, range(n), clients, seconds)
        versions = sorted(int(resp.json()["model_version"]["version"]) for _, resp in done)

        async def tag(c: httpx.AsyncClient, v: int) -> httpx.Response:
            return await http.post(
                "/model-versions/set-tag",
                json={
                    "name": name,
                    "version": str(v),
                    "key": "approved_by",
                    "value": "alice",
                },
            )

        out["set_tag"], _ = await _phase(http, tag, versions, clients, seconds)

        async def alias(c: httpx.AsyncClient, v: int) -> httpx.Response:
            return await http.post(
                "/registered-models/alias",
                json={
                    "name": name,
                    "alias": "production",
                    "version": str(v),
                },
            )

        out["set_alias"], _ = await _phase(http, alias, versions, clients, seconds)

        async def get(c: httpx.AsyncClient, v: int) -> httpx.Response:
            return await http.get("/model-versions/get", params={"name": name, "version": str(v)})

        out["get_version"], _ = await _phase(http, get, versions, clients, seconds)

        stored: list[int] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"filter": f"name='{name}'", "max_results": 200}
            if token:
                params["page_token"] = token
            r = await http.get("/model-versions/search", params=params)
            r.raise_for_status()
            body = r.json()
            stored += [int(m["version"]) for m in body.get("model_versions", [])]
            token = body.get("next_page_token")
            if not token:
                break
        out["checks"] = {
            "acknowledged": len(versions),
            "stored": len(stored),
            "duplicates": len(stored) - len(set(stored)),
            "lost": len(set(versions) - set(stored)),
            "gapless": sorted(stored) == list(range(1, len(stored) + 1)),
        }
        return out


async def _settle(system: str, limit: float = 30.0) -> float:
    """Wait until the server is idle (under 5% of a core for a second); seconds waited.

    MLflow starts background job workers that import for a while after ``/health``
    answers; measuring before they finish would charge the anchor for its start-up.
    """
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        before = _group_cpu_seconds(_PGID[system])
        await asyncio.sleep(1.0)
        if _group_cpu_seconds(_PGID[system]) - before < 0.05:
            break
    return round(time.perf_counter() - start, 1)


async def _main(cfg: dict[str, Any]) -> dict[str, Any]:
    n, clients, seconds = int(cfg["n"]), int(cfg["clients"]), float(cfg["seconds"])
    _PGID.update(mlgate=int(cfg["mlgate_pgid"]), mlflow=int(cfg["mlflow_pgid"]))
    _current[:] = ["mlgate"]
    # Both servers idle first: MLflow's start-up (its job workers import for a while)
    # must not share the machine with mlgate's phases, nor mlgate's with MLflow's.
    settled = {"mlflow": await _settle("mlflow", 120.0), "mlgate": await _settle("mlgate")}
    warm = int(cfg.get("warmup", 0))
    if warm:  # same operations on a project of their own, not measured
        await _mlgate(cfg["mlgate_url"], cfg["admin_token"], warm, clients, seconds)
    mlgate = await _mlgate(cfg["mlgate_url"], cfg["admin_token"], n, clients, seconds)
    _current[:] = ["mlflow"]
    settled["mlflow"] += await _settle("mlflow")
    if warm:
        await _mlflow(cfg["mlflow_url"], warm, clients, seconds)
    mlflow = await _mlflow(cfg["mlflow_url"], n, clients, seconds)
    mlgate["checks"]["settle_seconds"] = settled["mlgate"]
    mlflow["checks"]["settle_seconds"] = settled["mlflow"]
    return {"mlgate": mlgate, "mlflow": mlflow}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_main(json.loads(sys.argv[1])))))
