"""The stack's tokens: its governance principals and the prediction server's bearer token.

Both files live in the stack directory with mode 0600 and are reused by the next
``mlgate up``.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from flows.settings import get_settings

TOKENS_FILE = "tokens.json"
SERVE_TOKEN_FILE = "serve.token"
FLOWS_PRINCIPAL = "flows"


def ensure_tokens(directory: Path, governance_url: str) -> dict[str, str]:
    """Tokens of the stack's admin and of the ``flows`` service account (file mode 0600).

    Created on a fresh governance database only; an existing database keeps its
    principals and the flows use ``MLGATE_TOKEN`` from the environment instead.
    """
    from governance.admin import bootstrap_admin
    from governance.client import GovernanceClient
    from governance.config import get_settings as governance_settings
    from governance.errors import Conflict

    file = directory / TOKENS_FILE
    if file.exists():
        return dict(json.loads(file.read_text()))
    try:
        admin = bootstrap_admin(governance_settings().database_url, name="admin")
    except Conflict:
        return {}
    with GovernanceClient(governance_url, admin) as client:
        _, flows_token = client.create_principal(FLOWS_PRINCIPAL, "developer", kind="service")
    tokens = {"admin": admin, FLOWS_PRINCIPAL: flows_token}
    file.touch(mode=0o600)
    file.write_text(json.dumps(tokens))
    return tokens


def ensure_serve_token(directory: Path) -> str | None:
    """The prediction server's bearer token: ``MLGATE_SERVE_TOKEN`` when set (a token or a
    secret reference, passed on as it is); otherwise one generated for this stack, kept in
    ``serve.token`` (mode 0600) and reused by the next ``up``."""
    if get_settings().serve_token is not None:
        return None  # the child inherits it
    file = directory / SERVE_TOKEN_FILE
    if file.exists():
        return file.read_text().strip()
    token = "mls_" + secrets.token_urlsafe(32)
    file.touch(mode=0o600)
    file.write_text(token + "\n")
    return token
