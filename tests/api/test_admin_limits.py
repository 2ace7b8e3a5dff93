"""``/api/v1/admin/limits``: administrators see the effective limits and override the rate and
run limits, which take effect at once and again after a restart."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from nexus.settings import Settings


def _by_key(body: dict) -> dict[str, dict]:
    return {item["key"]: item for item in body["limits"]}


async def test_admin_sees_the_effective_limits(client: httpx.AsyncClient, app: FastAPI) -> None:
    response = await client.get("/api/v1/admin/limits")
    assert response.status_code == 200, response.text
    limits = _by_key(response.json())
    settings = app.state.services.settings
    rate = limits["run_rate_per_minute"]
    assert (rate["group"], rate["editable"], rate["overridden"]) == ("rate", True, False)
    assert rate["value"] == rate["default"] == settings.run_rate_per_minute
    assert limits["run_timeout_s"]["value"] == settings.run_timeout_s
    assert limits["max_run_input_chars"]["value"] == settings.max_run_input_chars
    # Workflow defaults and sandbox ceilings are shown, read-only.
    assert limits["workflow.max_nodes"]["editable"] is False
    assert limits["workflow.max_nodes"]["value"] == 1000
    sandbox = [item for item in limits.values() if item["group"] == "sandbox"]
    assert sandbox and all(not item["editable"] for item in sandbox)


async def test_an_override_takes_effect_at_once_and_resets(
    client: httpx.AsyncClient, app: FastAPI, providers
) -> None:
    providers.scripted("shared")  # no reply is scripted: the run must be refused before it
    agent = await client.post("/api/v1/agents", json={"name": "limited", "model": "test:shared"})
    assert agent.status_code == 201, agent.text
    agent_id = agent.json()["id"]

    response = await client.put(
        "/api/v1/admin/limits",
        json={"values": {"max_run_input_chars": 5, "run_rate_per_minute": 7}},
    )
    assert response.status_code == 200, response.text
    limits = _by_key(response.json())
    assert (
        limits["max_run_input_chars"]["value"],
        limits["max_run_input_chars"]["overridden"],
    ) == (
        5,
        True,
    )
    assert limits["run_rate_per_minute"]["value"] == 7
    assert app.state.services.settings.run_rate_per_minute == 7

    # The running server enforces the new value: a longer input is refused before the run.
    refused = await client.post(f"/api/v1/agents/{agent_id}/run", json={"input": "far too long"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == "input"

    # null returns a limit to the configured value.
    reset = await client.put("/api/v1/admin/limits", json={"values": {"max_run_input_chars": None}})
    assert reset.status_code == 200, reset.text
    limits = _by_key(reset.json())
    assert limits["max_run_input_chars"]["overridden"] is False
    assert limits["max_run_input_chars"]["value"] == limits["max_run_input_chars"]["default"]
    assert limits["run_rate_per_minute"]["value"] == 7  # untouched by the reset of another


async def test_bad_values_are_refused_without_a_partial_write(client: httpx.AsyncClient) -> None:
    before = (await client.get("/api/v1/admin/limits")).json()
    cases = [
        ({"run_rate_per_minute": 5, "workflow.max_nodes": 10}, "values.workflow.max_nodes"),
        ({"run_rate_per_minute": 5, "nonsense": 1}, "values.nonsense"),
        ({"run_rate_per_minute": 0}, "values.run_rate_per_minute"),
        ({"run_timeout_s": 10**9}, "values.run_timeout_s"),
        ({"run_rate_per_minute": 2.5}, "values.run_rate_per_minute"),
    ]
    for values, field in cases:
        response = await client.put("/api/v1/admin/limits", json={"values": values})
        assert response.status_code == 422, (values, response.text)
        error = response.json()["error"]
        assert (error["code"], error["field"]) == ("invalid_input", field), error
    malformed = await client.put("/api/v1/admin/limits", json={"values": {"run_timeout_s": "x"}})
    assert malformed.status_code == 422
    assert (await client.put("/api/v1/admin/limits", json={"limits": {}})).status_code == 422
    assert (await client.get("/api/v1/admin/limits")).json() == before


async def test_only_instance_admins(make_user, anon: httpx.AsyncClient) -> None:
    developer = await make_user("dev@nexus.test", role="admin")  # workspace admin, not instance
    for method, kwargs in (("GET", {}), ("PUT", {"json": {"values": {"run_timeout_s": 5}}})):
        response = await developer.request(method, "/api/v1/admin/limits", **kwargs)
        assert response.status_code == 403, response.text
        response = await anon.request(method, "/api/v1/admin/limits", **kwargs)
        assert response.status_code == 401, response.text


async def test_overrides_survive_a_restart(
    client: httpx.AsyncClient, migrated: Settings, providers, app_factory
) -> None:
    response = await client.put("/api/v1/admin/limits", json={"values": {"run_timeout_s": 42.5}})
    assert response.status_code == 200, response.text
    fresh = Settings(home=migrated.home, _env_file=None)  # type: ignore[call-arg]
    assert fresh.run_timeout_s != 42.5
    async with app_factory(fresh, providers) as restarted:
        assert restarted.state.services.settings.run_timeout_s == 42.5
