"""The real app (real provider registry, embedded SmolLM2) with the example agents imported.

``client`` is an HTTP client over ASGI signed in with an API token of the first user;
``agent_ids`` maps each example agent's name to its id; ``example(name)`` is its YAML, parsed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from nexus.api.app import create_app
from nexus.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "agents"
# Handoff targets first: an import is refused while a handoff points at a missing agent.
IMPORT_ORDER = (
    "assistant",
    "contact-extractor",
    "guarded-assistant",
    "math-tutor",
    "history-tutor",
    "triage",
)


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("no network in tests", request=request)


@pytest.fixture
async def app(migrated: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(migrated, key_transport=httpx.MockTransport(_unreachable))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    accounts = app.state.accounts
    user = await accounts.signup("admin@nexus.test", "correct horse battery staple")
    _, token = await accounts.create_token(user.id, "t")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://nexus.test",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60.0,
    ) as http:
        yield http


@pytest.fixture
async def agent_ids(client: httpx.AsyncClient) -> dict[str, str]:
    assert sorted(IMPORT_ORDER) == sorted(p.stem for p in EXAMPLES.glob("*.yaml"))
    ids: dict[str, str] = {}
    for name in IMPORT_ORDER:
        imported = await client.post(
            "/api/v1/agents/import",
            content=(EXAMPLES / f"{name}.yaml").read_bytes(),
            headers={"Content-Type": "application/yaml"},
        )
        assert imported.status_code == 201, imported.text
        assert imported.json()["name"] == name
        ids[name] = imported.json()["id"]
    return ids


@pytest.fixture
def example() -> Callable[[str], dict[str, Any]]:
    def load(name: str) -> dict[str, Any]:
        return yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())

    return load
