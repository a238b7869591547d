"""vault:// references against a real OpenBao server (Vault's open-source fork, same API).

Token and AppRole auth, KV v2, short token TTLs so that renewal and re-login really
happen, a cache, errors that name the reference and never a value, and an S3 ingest
whose Vault token expires midway.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from connector_factories import make_contract, make_rows, write_csv
from connector_servers import OpenBao, free_port, s3_admin, unique
from pydantic import SecretStr

from connectors.errors import CredentialsError, SourceUnavailable
from connectors.secrets import resolve_secret
from connectors.sources import open_source
from connectors.vault import current_resolver

VALUE = "vault-planted-Secret-7f3a"


@pytest.fixture
def path(bao: OpenBao) -> str:
    """A fresh KV v2 secret under secret/mlgate/ holding VALUE and a second key."""
    name = f"mlgate/{unique('app')}"
    bao.put(name, password=VALUE, user="svc-reader")
    return name


def _token_auth(monkeypatch: pytest.MonkeyPatch, bao: OpenBao, token: str) -> None:
    monkeypatch.setenv("MLGATE_VAULT_ADDR", bao.addr)
    monkeypatch.setenv("MLGATE_VAULT_TOKEN", token)


def _approle_auth(
    monkeypatch: pytest.MonkeyPatch, bao: OpenBao, *, ttl: str = "30s", max_ttl: str = "60s"
) -> None:
    role_id, secret_id = bao.approle(
        unique("role"), paths="mlgate/*", token_ttl=ttl, token_max_ttl=max_ttl
    )
    monkeypatch.setenv("MLGATE_VAULT_ADDR", bao.addr)
    monkeypatch.setenv("MLGATE_VAULT_ROLE_ID", role_id)
    monkeypatch.setenv("MLGATE_VAULT_SECRET_ID", secret_id)


def test_token_auth_reads_a_kv2_secret_as_a_hidden_value(
    monkeypatch: pytest.MonkeyPatch, bao: OpenBao, path: str
) -> None:
    _token_auth(monkeypatch, bao, bao.root_token)
    secret = resolve_secret(f"vault://secret/{path}#password")
    assert isinstance(secret, SecretStr)
    assert secret.get_secret_value() == VALUE
    assert VALUE not in f"{secret} {secret!r} {current_resolver()!r}"
    assert resolve_secret(f"vault://secret/{path}#user").get_secret_value() == "svc-reader"


def test_approle_auth_reads_and_caches(
    monkeypatch: pytest.MonkeyPatch, bao: OpenBao, path: str
) -> None:
    _approle_auth(monkeypatch, bao)
    monkeypatch.setenv("MLGATE_VAULT_CACHE_TTL_S", "1")
    ref = f"vault://secret/{path}#password"
    assert resolve_secret(ref).get_secret_value() == VALUE
    assert resolve_secret(ref).get_secret_value() == VALUE
    stats = current_resolver().stats
    assert (stats.logins, stats.reads, stats.cache_hits) == (1, 1, 1)

    bao.put(path, password="rotated-value", user="svc-reader")
    time.sleep(1.1)  # past the cache TTL: the rotated value is read
    assert resolve_secret(ref).get_secret_value() == "rotated-value"


def test_short_lived_tokens_are_renewed_then_replaced_by_a_fresh_login(
    monkeypatch: pytest.MonkeyPatch, bao: OpenBao, path: str
) -> None:
    _approle_auth(monkeypatch, bao, ttl="2s", max_ttl="3s")
    monkeypatch.setenv("MLGATE_VAULT_CACHE_TTL_S", "0")
    ref = f"vault://secret/{path}#password"
    for _ in range(8):  # 4 s: past the TTL (renewal) and the max TTL (login)
        assert resolve_secret(ref).get_secret_value() == VALUE
        time.sleep(0.5)
    stats = current_resolver().stats
    assert stats.renewals >= 1
    assert stats.logins >= 2


def test_a_revoked_token_leads_to_a_fresh_approle_login(
    monkeypatch: pytest.MonkeyPatch, bao: OpenBao, path: str
) -> None:
    _approle_auth(monkeypatch, bao)
    monkeypatch.setenv("MLGATE_VAULT_CACHE_TTL_S", "0")
    ref = f"vault://secret/{path}#password"
    assert resolve_secret(ref).get_secret_value() == VALUE
    resolver = current_resolver()
    bao.client().auth.token.revoke(resolver._client.token)  # the 403 path
    assert resolve_secret(ref).get_secret_value() == VALUE
    assert resolver.stats.logins == 2


def test_an_expired_token_given_directly_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, bao: OpenBao, path: str
) -> None:
    token = bao.token(ttl="1s")
    _token_auth(monkeypatch, bao, token)
    time.sleep(1.5)
    with pytest.raises(CredentialsError, match=r"refused the token \(MLGATE_VAULT_TOKEN\)") as info:
        resolve_secret(f"vault://secret/{path}#password")
    assert token not in str(info.value)


def test_a_short_token_given_directly_is_renewed(
    monkeypatch: pytest.MonkeyPatch, bao: OpenBao, path: str
) -> None:
    _token_auth(monkeypatch, bao, bao.token(ttl="2s"))
    monkeypatch.setenv("MLGATE_VAULT_CACHE_TTL_S", "0")
    for _ in range(6):
        assert resolve_secret(f"vault://secret/{path}#password").get_secret_value() == VALUE
        time.sleep(0.5)
    assert current_resolver().stats.renewals >= 1


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("vault://secret/mlgate/absent#password", r"^secret vault://secret/mlgate/absent does not"),
        ("vault://secret/PATH#nokey", r"has no key 'nokey' \(keys: password, user\)$"),
        ("vault://secret/mlgate", r"must have the form vault://mount/path#key"),
        ("vault://secret/../sys/x#k", r"empty or unsafe path segment"),
    ],
)
def test_missing_or_malformed_secrets_are_named(
    monkeypatch: pytest.MonkeyPatch, bao: OpenBao, path: str, ref: str, message: str
) -> None:
    _token_auth(monkeypatch, bao, bao.root_token)
    with pytest.raises(CredentialsError, match=message) as info:
        resolve_secret(ref.replace("PATH", path))
    assert VALUE not in str(info.value)
    assert info.value.code == "credentials_error"


def test_wrong_credentials_are_refused(
    monkeypatch: pytest.MonkeyPatch, bao: OpenBao, path: str
) -> None:
    _token_auth(monkeypatch, bao, "not-a-real-token")
    with pytest.raises(CredentialsError, match=r"refused the token"):
        resolve_secret(f"vault://secret/{path}#password")
    monkeypatch.delenv("MLGATE_VAULT_TOKEN")
    _approle_auth(monkeypatch, bao)
    monkeypatch.setenv("MLGATE_VAULT_SECRET_ID", "wrong-secret-id")
    with pytest.raises(CredentialsError, match=r"refused the AppRole login") as info:
        resolve_secret(f"vault://secret/{path}#password")
    assert "wrong-secret-id" not in str(info.value)


def test_a_policy_that_does_not_cover_the_path(
    monkeypatch: pytest.MonkeyPatch, bao: OpenBao
) -> None:
    bao.put("elsewhere/db", password=VALUE)
    _approle_auth(monkeypatch, bao)
    with pytest.raises(
        CredentialsError, match=r"the AppRole may not read vault://secret/elsewhere"
    ):
        resolve_secret("vault://secret/elsewhere/db#password")


def test_vault_down_is_unavailable_within_bounded_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    addr = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLGATE_VAULT_ADDR", addr)
    monkeypatch.setenv("MLGATE_VAULT_TOKEN", VALUE)
    monkeypatch.setenv("MLGATE_VAULT_TIMEOUT_S", "1")
    with pytest.raises(
        SourceUnavailable, match=rf"^Vault at {addr} cannot be reached .*3 attempts"
    ):
        resolve_secret("vault://secret/mlgate/x#password")


def test_settings_are_required(monkeypatch: pytest.MonkeyPatch, bao: OpenBao) -> None:
    monkeypatch.setenv("MLGATE_VAULT_ADDR", bao.addr)
    with pytest.raises(CredentialsError, match=r"need MLGATE_VAULT_TOKEN, or MLGATE_VAULT_ROLE_ID"):
        resolve_secret("vault://secret/mlgate/x#password")


def test_an_s3_ingest_survives_its_vault_token_expiring_midway(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bao: OpenBao,
    s3_endpoint: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """S3 keys live in Vault; the AppRole token lives 2 s (3 s at most), the ingest 5 s."""
    bucket = unique("vault-ingest")
    admin = s3_admin(s3_endpoint)
    admin.create_bucket(Bucket=bucket)
    rows = make_rows(4_000)
    for i in range(4):
        part = write_csv(tmp_path / f"part-{i}.csv", rows[i * 1_000 : (i + 1) * 1_000])
        admin.upload_file(str(part), bucket, f"daily/part-{i}.csv")
    path = f"mlgate/{unique('s3')}"
    bao.put(path, access_key="vault-held-AKID-1", secret_key=VALUE)
    _approle_auth(monkeypatch, bao, ttl="2s", max_ttl="3s")
    monkeypatch.setenv("MLGATE_VAULT_CACHE_TTL_S", "1")
    monkeypatch.setenv("MLGATE_S3_CREDENTIALS_TTL_S", "1")
    uri = (
        f"s3://{bucket}/daily/?endpoint={s3_endpoint}"
        f"&access_key=vault://secret/{path}%23access_key&secret_key=vault://secret/{path}%23secret_key"
    )
    contract = make_contract()
    caplog.set_level(logging.DEBUG, logger="connectors")
    caplog.set_level(logging.INFO)

    got = []
    for batch in open_source(uri, contract=contract, batch_rows=500).batches:
        got.append(batch)
        time.sleep(0.6)  # a slow consumer: credentials are re-resolved between objects

    assert sum(b.num_rows for b in got) == 4_000
    stats = current_resolver().stats
    assert stats.logins >= 2  # the first token expired during the run
    assert VALUE not in caplog.text
    assert "vault-held-AKID-1" not in caplog.text


def test_an_s3_source_whose_vault_is_down_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, s3_endpoint: str
) -> None:
    addr = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLGATE_VAULT_ADDR", addr)
    monkeypatch.setenv("MLGATE_VAULT_ROLE_ID", "role")
    monkeypatch.setenv("MLGATE_VAULT_SECRET_ID", VALUE)
    monkeypatch.setenv("MLGATE_VAULT_TIMEOUT_S", "1")
    uri = (
        f"s3://some-bucket/a.csv?endpoint={s3_endpoint}"
        "&access_key=vault://secret/mlgate/s3%23ak&secret_key=vault://secret/mlgate/s3%23sk"
    )
    with pytest.raises(SourceUnavailable, match=rf"^Vault at {addr} cannot be reached") as info:
        open_source(uri)
    assert VALUE not in str(info.value)
