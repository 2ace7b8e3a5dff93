"""The OpenAPI document describes every endpoint the issue lists, and the docs page serves."""

from __future__ import annotations

import pytest

ENDPOINTS = {
    ("get", "/health"),
    ("post", "/api/v1/agents"),
    ("get", "/api/v1/agents"),
    ("get", "/api/v1/agents/{agent_id}"),
    ("put", "/api/v1/agents/{agent_id}"),
    ("delete", "/api/v1/agents/{agent_id}"),
    ("post", "/api/v1/agents/{agent_id}/clone"),
    ("post", "/api/v1/agents/{agent_id}/run"),
    ("get", "/api/v1/agents/{agent_id}/export"),
    ("post", "/api/v1/agents/import"),
    ("get", "/api/v1/agents/{agent_id}/handoffs"),
    ("post", "/api/v1/agents/{agent_id}/handoffs"),
    ("get", "/api/v1/agents/{agent_id}/handoffs/{handoff_id}"),
    ("put", "/api/v1/agents/{agent_id}/handoffs/{handoff_id}"),
    ("delete", "/api/v1/agents/{agent_id}/handoffs/{handoff_id}"),
    ("get", "/api/v1/agents/{agent_id}/tools"),
    ("post", "/api/v1/agents/{agent_id}/tools"),
    ("get", "/api/v1/agents/{agent_id}/tools/{tool_id}"),
    ("put", "/api/v1/agents/{agent_id}/tools/{tool_id}"),
    ("delete", "/api/v1/agents/{agent_id}/tools/{tool_id}"),
    ("get", "/api/v1/agents/tools/available"),
    ("get", "/api/v1/agents/output-types/available"),
    ("get", "/api/v1/runs"),
    ("get", "/api/v1/runs/{run_id}"),
    ("get", "/api/v1/runs/{run_id}/events"),
    ("post", "/api/v1/runs/{run_id}/cancel"),
    ("get", "/api/v1/models/providers"),
    ("get", "/api/v1/models/providers/{provider}/models"),
    ("get", "/api/v1/models/providers/{provider}/capabilities"),
}


@pytest.fixture
async def openapi(client) -> dict:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


async def test_every_listed_endpoint_is_documented(openapi) -> None:
    documented = {
        (method, path)
        for path, operations in openapi["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "delete", "patch")
    }
    assert ENDPOINTS - documented == set()


async def test_operation_ids_are_unique(openapi) -> None:
    ids = [op["operationId"] for ops in openapi["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


async def test_streaming_endpoints_declare_event_stream(openapi) -> None:
    for path, method in (
        ("/api/v1/runs/{run_id}/events", "get"),
        ("/api/v1/agents/{agent_id}/run", "post"),
    ):
        content = openapi["paths"][path][method]["responses"]["200"]["content"]
        assert "text/event-stream" in content, path


async def test_error_responses_use_the_error_body(openapi) -> None:
    error = openapi["paths"]["/api/v1/agents/{agent_id}"]["get"]["responses"]["404"]
    ref = error["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/ErrorBody"
    detail = openapi["components"]["schemas"]["ErrorDetail"]
    assert set(detail["required"]) == {"code", "message"}


async def test_import_takes_a_yaml_body(openapi) -> None:
    body = openapi["paths"]["/api/v1/agents/import"]["post"]["requestBody"]
    assert body["content"] == {"application/yaml": {"schema": {"type": "string"}}}


async def test_docs_page(client) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


async def test_health(client) -> None:
    from nexus import __version__

    response = await client.get("/health")
    assert response.json() == {"status": "ok", "version": __version__, "database": "ok"}


async def test_models_endpoints(client) -> None:
    providers = (await client.get("/api/v1/models/providers")).json()
    by_name = {p["name"]: p for p in providers}
    assert by_name["openai"]["configured"] is False
    assert by_name["openai"]["setting"] == "NEXUS_OPENAI_API_KEY"
    for name in by_name:
        models = await client.get(f"/api/v1/models/providers/{name}/models")
        capabilities = await client.get(f"/api/v1/models/providers/{name}/capabilities")
        assert (models.status_code, capabilities.status_code) == (200, 200), name
        assert all(m["provider"] == name and m["id"].startswith(f"{name}:") for m in models.json())
        assert set(capabilities.json()) == {"streaming", "tools", "structured_output"}
    missing = await client.get("/api/v1/models/providers/nope/capabilities")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
