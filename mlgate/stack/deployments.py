"""Register ``prefect.yaml`` as Prefect deployments, and a scheduled monitor per project."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from mlgate.stack.processes import REPO_ROOT, bin_path, child_env, stack_dir


def deploy_env(
    prefect_api: str,
    *,
    pool: str,
    spec: Path,
    data_dir: Path,
    store: str,
    governance_url: str,
    current_source: str = "",
) -> dict[str, str]:
    """The environment ``prefect deploy`` reads the templated values of prefect.yaml from."""
    return {
        "PREFECT_API_URL": prefect_api,
        "MLGATE_REPO_DIR": str(REPO_ROOT),
        "MLGATE_CURRENT_SOURCE": current_source,
        "MLGATE_WORK_POOL": pool,
        "MLGATE_SPEC": str(spec.resolve()),
        "MLGATE_DATA_DIR": str(data_dir.resolve()),
        "MLGATE_STORE": store,
        "MLGATE_GOVERNANCE_URL": governance_url,
    }


def deployable() -> list[str]:
    """Names of the deployments in prefect.yaml whose flow exists in this checkout."""
    import yaml

    config = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())
    names = []
    for item in config.get("deployments", []):
        path, _, func = str(item["entrypoint"]).partition(":")
        file = REPO_ROOT / path
        if file.is_file() and f"def {func}(" in file.read_text():
            names.append(str(item["name"]))
    return names


def run_deploy(
    env: dict[str, str], names: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``prefect deploy`` on the repository's prefect.yaml for ``names``.

    ``names`` defaults to every deployment whose flow file exists.
    """
    selection = [arg for n in (names or deployable()) for arg in ("--name", n)]
    argv = [bin_path("prefect"), "--no-prompt", "deploy", *selection]
    full = child_env(stack_dir(), env)
    return subprocess.run(
        argv, cwd=REPO_ROOT, env=full, capture_output=True, text=True, timeout=600, check=False
    )


# What a deployment copied from another keeps of it (fields of Prefect's DeploymentCreate).
_DEPLOYMENT_FIELDS = (
    "flow_id",
    "parameters",
    "tags",
    "pull_steps",
    "work_queue_name",
    "work_pool_name",
    "path",
    "job_variables",
    "entrypoint",
    "parameter_openapi_schema",
    "enforce_parameter_schema",
    "description",
    "version",
)


def schedule_project_monitor(api: str, project: str, cron: str) -> str | None:
    """Give ``project`` a scheduled monitor deployment of its own, ``monitor-<project>``.

    It is a copy of ``mlgate-monitor/monitor`` as just deployed (so its parameters name
    this project's spec, data, store and governance) with one cron schedule; deploying
    another project's spec adds that project's copy and leaves this one scheduled. The
    shared ``monitor`` deployment stays unscheduled, for runs started by hand.

    Returns:
        The new deployment's full name, or None if ``mlgate-monitor/monitor`` is absent.
    """
    with httpx.Client(base_url=api, timeout=30) as http:
        found = http.get("/deployments/name/mlgate-monitor/monitor")
        if found.status_code == 404:
            return None
        found.raise_for_status()
        template = found.json()
        body = {key: template[key] for key in _DEPLOYMENT_FIELDS if key in template}
        body["name"] = f"monitor-{project}"
        body["paused"] = False
        body["schedules"] = [{"schedule": {"cron": cron, "timezone": "UTC"}, "active": True}]
        http.post("/deployments/", json=body).raise_for_status()  # upsert: replaces schedules
    return f"mlgate-monitor/monitor-{project}"


def deployments_summary(api: str) -> str:
    response = httpx.post(f"{api}/deployments/filter", json={}, timeout=10)
    response.raise_for_status()
    names = sorted(d["name"] for d in response.json())
    return "deployments: " + ", ".join(names)
