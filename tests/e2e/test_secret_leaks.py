"""No secret leaks from a pipeline run whose credentials all live in Vault.

One real run: the training data and the scoring batch are on S3 (moto's server), the S3
keys and the governance API token are held in OpenBao (the open-source Vault, real
server, AppRole with a short token TTL), governance runs under uvicorn, Prefect is a
real temporary server. Recognisable secret values are planted, then searched for in
every log line (pytest's capture and the Prefect run logs read back through the Prefect
client), the flow and task runs (parameters, states), the Prefect artifacts and
persisted results, the governance audit trail, every file in the artifact store, the
run's summary and the text of typical failures: zero hits.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from connector_servers import OpenBao, moto_s3, openbao, s3_admin, s3_auth_enforced, unique

from connectors.errors import ConnectorError
from connectors.secrets import resolve_secret
from connectors.sources import open_source
from connectors.vault import current_resolver
from core.spec import load_spec
from flows.pipeline import PipelineParams, pipeline
from governance.admin import bootstrap_admin
from governance.client import GovernanceClient
from governance.schemas import PromotionRequestPublic
from governance.server import serve_in_thread
from mlgate.demo import data as demo_data
from mlgate.demo.run import SPEC_FILE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def vault() -> Iterator[OpenBao]:
    with openbao() as server:
        yield server


def _approve_when_asked(url: str, token: str, project: str, stop: threading.Event) -> None:
    """bob, an approver who neither trained nor requested, approves the pipeline's request."""
    with GovernanceClient(url, token) as bob:
        while not stop.is_set():
            pending: list[PromotionRequestPublic] = []
            with contextlib.suppress(Exception):  # the project does not exist yet
                pending = bob.list_promotion_requests(project, status="pending")
            for req in pending:
                bob.decide(str(req.id), "approve", comment="reviewed")
                return
            stop.wait(0.3)


def _prefect_texts(since_flow_run: str) -> list[str]:
    """Everything the Prefect server keeps about the run, as JSON texts."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=30)
    texts: list[str] = []
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(uuid.UUID(since_flow_run))
        texts.append(run.model_dump_json())
        runs = FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
        for task_run in client.read_task_runs(flow_run_filter=runs):
            texts.append(task_run.model_dump_json())
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
        assert logs, "the run's logs were not found on the Prefect server"
        texts.extend(log.model_dump_json() for log in logs)
        for artifact in client.read_artifacts():
            texts.append(artifact.model_dump_json())
    return texts


def _files_text(root: Path) -> Iterator[tuple[Path, bytes]]:
    """Each file's bytes; parquet files also decoded (compression could hide a value)."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        yield path, data
        if path.suffix == ".parquet":
            yield path, pq.read_table(path).to_pandas().to_csv().encode()


def test_a_vault_backed_pipeline_run_leaks_no_secret(
    tmp_path: Path,
    s3_endpoint: str,
    vault: OpenBao,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # --- planted secrets: recognisable, and each one really used by the run ------------
    s3_access_key = f"PLANTEDAKID{secrets.token_hex(6).upper()}"
    s3_secret_key = f"planted-s3-secret-{secrets.token_hex(12)}"
    database_url = f"sqlite:///{tmp_path / 'governance.db'}"
    admin_token = bootstrap_admin(database_url, name="admin")

    # --- data on S3 -------------------------------------------------------------------
    bucket = unique("leaks")
    s3_admin(s3_endpoint).create_bucket(Bucket=bucket)
    data = tmp_path / "upload"
    demo_data.write_csv(demo_data.make_applications(3_000), data / "applications.csv")
    demo_data.write_csv(demo_data.make_current_batch(1_000), data / "current.csv")
    for name in ("applications.csv", "current.csv"):
        s3_admin(s3_endpoint).upload_file(str(data / name), bucket, f"credit/{name}")

    with serve_in_thread(database_url, stores=[f"file://{tmp_path / 'artifacts'}"]) as server:
        with GovernanceClient(server.url, admin_token) as admin:
            _, pipeline_token = admin.create_principal("carol", "developer", kind="service")
            _, bob_token = admin.create_principal("bob", "approver")

        # --- credentials in Vault, reached with AppRole (short token TTL) -------------
        vault.put("mlgate/s3", access_key=s3_access_key, secret_key=s3_secret_key)
        vault.put("mlgate/governance", token=pipeline_token)
        role_id, secret_id = vault.approle(
            unique("pipeline"), paths="mlgate/*", token_ttl="2s", token_max_ttl="3s"
        )
        monkeypatch.setenv("MLGATE_VAULT_ADDR", vault.addr)
        monkeypatch.setenv("MLGATE_VAULT_ROLE_ID", role_id)
        monkeypatch.setenv("MLGATE_VAULT_SECRET_ID", secret_id)
        monkeypatch.setenv("MLGATE_VAULT_CACHE_TTL_S", "2")
        monkeypatch.setenv("MLGATE_S3_CREDENTIALS_TTL_S", "2")
        planted = {
            "S3 access key": s3_access_key,
            "S3 secret key": s3_secret_key,
            "governance token": pipeline_token,
            "AppRole secret id": secret_id,
            "Vault root token": vault.root_token,
        }

        options = (
            f"?endpoint={s3_endpoint}&access_key=vault://secret/mlgate/s3%23access_key"
            "&secret_key=vault://secret/mlgate/s3%23secret_key"
        )
        spec = yaml.safe_load(SPEC_FILE.read_text())
        spec["name"] = unique("leak").lower()
        spec["source"] = f"s3://{bucket}/credit/applications.csv{options}"
        spec_path = tmp_path / "spec.yaml"
        spec_path.write_text(yaml.safe_dump(spec))
        assert load_spec(spec_path).source.startswith("s3://")

        params = PipelineParams(
            spec_path=str(spec_path),
            data_dir=str(tmp_path),
            store_url=str(tmp_path / "artifacts"),
            governance_url=server.url,
            token_ref="vault://secret/mlgate/governance#token",
            current_source=f"s3://{bucket}/credit/current.csv{options}",
            gate="poll",
            poll_interval_s=0.3,
            approval_timeout_s=120,
        )

        caplog.set_level(logging.INFO)
        for name in ("connectors", "flows", "mlgate", "governance"):
            caplog.set_level(logging.DEBUG, logger=name)
        stop = threading.Event()
        reviewer = threading.Thread(
            target=_approve_when_asked,
            args=(server.url, bob_token, spec["name"], stop),
            daemon=True,
        )
        reviewer.start()
        try:
            state = pipeline(params, return_state=True)
        finally:
            stop.set()
            reviewer.join(timeout=10)
        summary = state.result()
        assert summary.promotion_request.status in ("approved", "promoted")
        assert summary.scoring is not None and summary.scoring.rows == 1_000

        # --- typical failures, for their exception text ---------------------------------
        failures: list[str] = []
        with s3_auth_enforced(s3_endpoint), pytest.raises(ConnectorError) as refused:
            open_source(spec["source"])
        failures.append(f"{refused.value!s} {refused.value!r} {refused.value.__cause__!r}")
        with pytest.raises(ConnectorError) as missing:
            resolve_secret("vault://secret/mlgate/s3#nope")
        failures.append(f"{missing.value!s} {missing.value!r}")

        with GovernanceClient(server.url, admin_token) as admin:
            audit = [e.model_dump_json() for e in admin.audit_events(limit=1000)]
            assert audit and admin.verify_audit().ok

    # --- search everywhere ------------------------------------------------------------
    from prefect.settings import get_current_settings

    places: dict[str, list[str]] = {
        "captured log lines": [caplog.text]
        + [f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records],
        "Prefect flow/task runs, logs, artifacts": _prefect_texts(
            str(state.state_details.flow_run_id)
        ),
        "governance audit events": audit,
        "the run's summary": [summary.model_dump_json()],
        "exception texts": failures,
    }
    hits = [
        f"{what} in {place}"
        for place, texts in places.items()
        for what, value in planted.items()
        if any(value in text for text in texts)
    ]
    storage = Path(get_current_settings().results.local_storage_path)
    for root in (tmp_path / "artifacts", storage):
        for path, blob in _files_text(root) if root.exists() else ():
            hits += [f"{what} in {path}" for what, v in planted.items() if v.encode() in blob]
    assert hits == []

    # The search is not vacuous: the run logged, recorded and stored things, and its
    # Vault token expired and was replaced while it ran.
    prefect_texts = places["Prefect flow/task runs, logs, artifacts"]
    assert any(f"ingest s3://{bucket}/credit/applications.csv" in t for t in prefect_texts)
    assert f"s3://{bucket}/credit/current.csv" in caplog.text
    assert current_resolver().stats.logins >= 2
    assert any(spec["name"] in text for text in audit)
    assert any((tmp_path / "artifacts").rglob("*.skops"))
