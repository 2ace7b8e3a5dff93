"""HTTP hardening: security headers on every answer, CORS only for configured origins, the
request body cap (announced or streamed), and the run rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from agents.testing import assistant_message
from fastapi import FastAPI

from nexus.settings import Settings
from nexus.store.tables import AgentRow

PASSWORD = "correct horse battery staple"
FOREIGN = "https://evil.example"
UI = "https://ui.example"


@pytest.fixture
async def tuned(migrated: Settings, providers, app_factory, connect):
    """``async with tuned(cors_origins=[…], …) as (app, admin_client)`` on the same database."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
        settings = migrated.model_copy(update=overrides)
        async with app_factory(settings, providers) as application:
            accounts = application.state.accounts
            user = await accounts.find_user("admin@nexus.test")
            if user is None:
                user = await accounts.signup("admin@nexus.test", PASSWORD)
            _, token = await accounts.create_token(user.id, "tests")
            async with connect(application, token) as http:
                yield application, http

    return make


async def test_security_headers_on_every_kind_of_answer(client, anon) -> None:
    answers = [
        await anon.get("/health"),
        await anon.get("/api/v1/agents"),  # 401
        await client.get("/api/v1/agents/nope"),  # 404
        await client.post("/api/v1/agents", json={}),  # 422
        await client.get("/api/v1/agents"),
        await anon.get("/api/v1/nowhere"),  # 404
        await anon.get("/workflows/anything"),  # the web app's page (single-page fallback)
    ]
    assert [a.status_code for a in answers] == [200, 401, 404, 422, 200, 404, 200]
    for answer in answers:
        csp = answer.headers["content-security-policy"]
        directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";")}
        assert directives["frame-ancestors"] == "frame-ancestors 'none'"
        assert directives["default-src"] == "default-src 'self'"
        assert "'unsafe-eval'" not in csp and "*" not in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"


async def test_no_cors_by_default(client) -> None:
    simple = await client.get("/api/v1/agents", headers={"Origin": FOREIGN})
    assert simple.status_code == 200
    assert not [h for h in simple.headers if h.startswith("access-control-")]
    preflight = await client.options(
        "/api/v1/agents",
        headers={"Origin": FOREIGN, "Access-Control-Request-Method": "POST"},
    )
    assert not [h for h in preflight.headers if h.startswith("access-control-")]


async def test_cors_allows_only_the_configured_origin(tuned) -> None:
    async with tuned(cors_origins=[UI]) as (_app, http):
        allowed = await http.get("/api/v1/agents", headers={"Origin": UI})
        assert allowed.headers["access-control-allow-origin"] == UI
        assert allowed.headers["access-control-allow-credentials"] == "true"
        foreign = await http.get("/api/v1/agents", headers={"Origin": FOREIGN})
        assert "access-control-allow-origin" not in foreign.headers

        def preflight(origin: str) -> dict[str, str]:
            return {
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-csrf-token, content-type",
            }

        ok = await http.options("/api/v1/agents", headers=preflight(UI))
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == UI
        assert "x-csrf-token" in ok.headers["access-control-allow-headers"].lower()
        refused = await http.options("/api/v1/agents", headers=preflight(FOREIGN))
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
        # Never a wildcard with credentials.
        assert ok.headers["access-control-allow-origin"] != "*"


async def _agent_count(app: FastAPI) -> int:
    async with app.state.services.db.sessions() as session:
        return await session.scalar(sa.select(sa.func.count()).select_from(AgentRow))


@pytest.mark.parametrize("how", ["announced", "streamed"])
async def test_a_body_over_the_cap_is_413_and_writes_nothing(tuned, providers, how: str) -> None:
    providers.scripted("big")
    async with tuned(max_body_bytes=4096) as (app, http):
        body = {"name": "big", "model": "test:big", "instructions": "x" * 10_000}
        if how == "announced":
            response = await http.post("/api/v1/agents", json=body)
        else:
            import json

            data = json.dumps(body).encode()

            async def chunks() -> AsyncIterator[bytes]:
                for start in range(0, len(data), 1000):
                    yield data[start : start + 1000]

            response = await http.post(
                "/api/v1/agents", content=chunks(), headers={"Content-Type": "application/json"}
            )
            assert "content-length" not in response.request.headers
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "error": {
                "code": "too_large",
                "message": "the request body is larger than 4096 bytes",
            }
        }
        assert response.headers["x-content-type-options"] == "nosniff"
        assert await _agent_count(app) == 0
        # Just under the cap is fine.
        small = {"name": "big", "model": "test:big", "instructions": "x" * 3000}
        assert (await http.post("/api/v1/agents", json=small)).status_code == 201


async def test_a_lying_content_length_is_refused(tuned) -> None:
    async with tuned(max_body_bytes=4096) as (_app, http):
        response = await http.post(
            "/api/v1/agents",
            content=b"{}",
            headers={"Content-Type": "application/json", "Content-Length": "not-a-number"},
        )
        assert response.status_code == 413


async def test_runs_are_rate_limited_per_caller(tuned, providers, connect) -> None:
    async with tuned(run_rate_per_minute=2) as (app, http):
        providers.scripted("fast")
        created = await http.post("/api/v1/agents", json={"name": "fast", "model": "test:fast"})
        agent_id = created.json()["id"]
        statuses = []
        for _ in range(3):
            providers.scripted("fast").enqueue([assistant_message("ok")])
            ran = await http.post(f"/api/v1/agents/{agent_id}/run", json={"input": "hi"})
            statuses.append(ran.status_code)
        assert statuses == [200, 200, 429]
        assert ran.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(ran.headers["retry-after"]) <= 60
        runs = (await http.get("/api/v1/runs")).json()
        assert runs["total"] == 2  # the refused run was never written
        # Another token of the same user is another budget (per token).
        accounts = app.state.accounts
        user = await accounts.find_user("admin@nexus.test")
        _, other = await accounts.create_token(user.id, "second")
        async with connect(app, other) as second:
            providers.scripted("fast").enqueue([assistant_message("ok")])
            again = await second.post(f"/api/v1/agents/{agent_id}/run", json={"input": "hi"})
            assert again.status_code == 200


async def test_runs_are_rate_limited_per_ip(tuned, providers, connect) -> None:
    async with tuned(run_rate_per_ip_per_minute=2) as (app, http):
        providers.scripted("fast")
        created = await http.post("/api/v1/agents", json={"name": "fast", "model": "test:fast"})
        agent_id = created.json()["id"]
        accounts = app.state.accounts
        user = await accounts.find_user("admin@nexus.test")
        statuses = []
        for n in range(3):  # a new token each time: only the address is shared
            _, token = await accounts.create_token(user.id, f"t{n}")
            async with connect(app, token, ip="203.0.113.9") as caller:
                providers.scripted("fast").enqueue([assistant_message("ok")])
                ran = await caller.post(f"/api/v1/agents/{agent_id}/run", json={"input": "hi"})
                statuses.append(ran.status_code)
        assert statuses == [200, 200, 429]
