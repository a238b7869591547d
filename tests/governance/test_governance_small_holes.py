"""Smaller holes of the gate, closed: the docs load nothing from outside, no cache keeps
an answer, tokens expire unless told otherwise."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from govtest import Gov


def test_the_docs_page_loads_only_its_own_assets(gov: Gov) -> None:
    page = httpx.get(f"{gov.url}/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
    assert urls, page.text
    for url in urls:
        assert not re.match(r"^(https?:)?//", url), f"{url} is outside the service"
        assert httpx.get(f"{gov.url}{url}").status_code == 200, url
    assert httpx.get(f"{gov.url}/redoc").status_code == 404


def test_no_cache_keeps_an_answer_above_all_a_token(gov: Gov) -> None:
    headers = {"Authorization": gov.admin._http.headers["Authorization"]}
    issued = httpx.post(
        f"{gov.url}/api/v1/principals", json={"name": "nell", "role": "viewer"}, headers=headers
    )
    assert issued.status_code == 201 and issued.json()["token"]
    assert issued.headers["cache-control"] == "no-store"
    for path in ("/api/v1/me", "/api/v1/projects", "/api/v1/no-such-route"):
        answer = httpx.get(f"{gov.url}{path}", headers=headers)
        assert answer.headers["cache-control"] == "no-store", path
    assert httpx.get(f"{gov.url}/api/v1/health").headers["cache-control"] == "no-store"


def test_tokens_expire_by_default(gov: Gov) -> None:
    _, token = gov.admin.create_principal("tess", "viewer")
    created = gov.admin.create_token("tess")
    for expires in (created.info.expires_at,):
        assert expires is not None
        left = expires - datetime.now(UTC)
        assert timedelta(days=89) < left <= timedelta(days=90)
    assert token
