"""Agents over HTTP: CRUD with pages, clone, YAML import/export, the handoffs and tools
sub-resources, and the builder's catalogs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import yaml

SPEC = {
    "name": "writer",
    "description": "Writes short texts",
    "instructions": "Write briefly.",
    "model": "test:writer",
    "model_settings": {"temperature": 0.2, "top_p": None, "max_tokens": 300, "tool_choice": None},
    "tools": [],
    "handoffs": [],
    "input_guardrails": [
        {
            "type": "keyword",
            "name": "no-secrets",
            "keywords": ["password"],
            "case_sensitive": False,
            "message": None,
        }
    ],
    "output_guardrails": [],
    "output_schema": None,
    "max_turns": 5,
}


@pytest.fixture(autouse=True)
def scripted_models(providers) -> None:
    for name in ("writer", "editor", "other"):
        providers.scripted(name)


STORED = ("id", "owner_id", "workspace_id", "visibility", "editable", "created_at", "updated_at")


def public(body: dict[str, Any]) -> dict[str, Any]:
    """The spec part of an ``AgentPublic`` (without what the store adds)."""
    assert set(STORED) <= set(body)
    return {k: v for k, v in body.items() if k not in STORED}


async def create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    created = await client.post("/api/v1/agents", json={**SPEC, **fields})
    assert created.status_code == 201, created.text
    return created.json()


async def test_create_get_put_delete(client) -> None:
    created = await create(client)
    assert public(created) == SPEC
    assert created["id"].startswith("agt_")
    assert (created["visibility"], created["editable"]) == ("workspace", True)
    assert created["created_at"].endswith("Z")
    got = await client.get(f"/api/v1/agents/{created['id']}")
    assert got.json() == created
    by_name = await client.get("/api/v1/agents/writer")
    assert by_name.json() == created

    changed = {**SPEC, "name": "rewriter", "instructions": "Rewrite.", "max_turns": 3}
    put = await client.put(f"/api/v1/agents/{created['id']}", json=changed)
    assert put.status_code == 200, put.text
    assert public(put.json()) == changed
    assert (put.json()["id"], put.json()["created_at"]) == (created["id"], created["created_at"])
    assert put.json()["updated_at"] >= created["updated_at"]
    assert (await client.get(f"/api/v1/agents/{created['id']}")).json() == put.json()

    deleted = await client.delete(f"/api/v1/agents/{created['id']}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    gone = await client.get(f"/api/v1/agents/{created['id']}")
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "not_found")


async def test_defaults_are_filled_in(client) -> None:
    created = await client.post("/api/v1/agents", json={"name": "other", "model": "test:other"})
    assert public(created.json()) == {
        "name": "other",
        "description": "",
        "instructions": "You are a helpful assistant.",
        "model": "test:other",
        "model_settings": {
            "temperature": None,
            "top_p": None,
            "max_tokens": None,
            "tool_choice": None,
        },
        "tools": [],
        "handoffs": [],
        "input_guardrails": [],
        "output_guardrails": [],
        "output_schema": None,
        "max_turns": 10,
    }


async def test_list_is_sorted_by_name_and_paged(client) -> None:
    names = ["delta", "alpha", "echo", "charlie", "bravo"]
    for name in names:
        await create(client, name=name)

    async def page(**params: Any) -> dict[str, Any]:
        response = await client.get("/api/v1/agents", params=params)
        assert response.status_code == 200
        body = response.json()
        return {**body, "items": [a["name"] for a in body["items"]]}

    assert await page() == {"items": sorted(names), "total": 5, "page": 1, "limit": 20}
    assert await page(limit=2) == {"items": ["alpha", "bravo"], "total": 5, "page": 1, "limit": 2}
    assert await page(limit=2, page=3) == {"items": ["echo"], "total": 5, "page": 3, "limit": 2}
    assert await page(limit=2, page=4) == {"items": [], "total": 5, "page": 4, "limit": 2}


async def test_clone_picks_a_free_name_or_takes_one(client) -> None:
    original = await create(client)
    first = await client.post(f"/api/v1/agents/{original['id']}/clone")
    second = await client.post(f"/api/v1/agents/{original['id']}/clone")
    named = await client.post(f"/api/v1/agents/{original['id']}/clone", json={"name": "twin"})
    assert [r.status_code for r in (first, second, named)] == [201, 201, 201]
    assert [public(r.json()) for r in (first, second, named)] == [
        {**SPEC, "name": "writer copy"},
        {**SPEC, "name": "writer copy 2"},
        {**SPEC, "name": "twin"},
    ]
    assert len({original["id"], first.json()["id"], second.json()["id"], named.json()["id"]}) == 4
    taken = await client.post(f"/api/v1/agents/{original['id']}/clone", json={"name": "twin"})
    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "conflict")
    assert (await client.get("/api/v1/agents")).json()["total"] == 4


async def test_export_then_import_round_trips(client) -> None:
    original = await create(client)
    exported = await client.get(f"/api/v1/agents/{original['id']}/export")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(exported.text) == SPEC

    await client.delete(f"/api/v1/agents/{original['id']}")
    imported = await client.post(
        "/api/v1/agents/import",
        content=exported.content,
        headers={"content-type": "application/yaml"},
    )
    assert imported.status_code == 201, imported.text
    assert public(imported.json()) == SPEC
    again = await client.get(f"/api/v1/agents/{imported.json()['id']}/export")
    assert again.text == exported.text


async def test_import_accepts_json_and_minimal_yaml(client) -> None:
    minimal = await client.post(
        "/api/v1/agents/import", content=b"name: other\nmodel: test:other\n"
    )
    assert minimal.status_code == 201, minimal.text
    assert (minimal.json()["name"], minimal.json()["max_turns"]) == ("other", 10)
    as_json = await client.post(
        "/api/v1/agents/import", content=b'{"name": "editor", "model": "test:editor"}'
    )
    assert as_json.status_code == 201, as_json.text
    assert as_json.json()["name"] == "editor"


async def test_handoffs_sub_resource_crud(client) -> None:
    writer = await create(client)
    editor = await create(client, name="editor", model="test:editor", input_guardrails=[])
    other = await create(client, name="other", model="test:other", input_guardrails=[])
    base = f"/api/v1/agents/{writer['id']}/handoffs"
    assert (await client.get(base)).json() == []

    added = await client.post(base, json={"agent": "editor", "description": "polish"})
    assert added.status_code == 201, added.text
    handoff = added.json()
    assert handoff == {
        "id": handoff["id"],
        "agent": "editor",
        "mode": "handoff",
        "description": "polish",
    }
    assert (await client.get(base)).json() == [handoff]
    assert (await client.get(f"{base}/{handoff['id']}")).json() == handoff
    stored = (await client.get(f"/api/v1/agents/{writer['id']}")).json()
    assert stored["handoffs"] == [handoff]

    changed = {"agent": other["id"], "mode": "tool", "description": None}
    put = await client.put(f"{base}/{handoff['id']}", json=changed)
    assert put.status_code == 200, put.text
    assert put.json() == {"id": handoff["id"], **changed}
    assert (await client.get(base)).json() == [put.json()]

    deleted = await client.delete(f"{base}/{handoff['id']}")
    assert deleted.status_code == 204
    assert (await client.get(base)).json() == []
    missing = await client.get(f"{base}/{handoff['id']}")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert editor["handoffs"] == []


async def test_cycles_of_handoffs_are_allowed(client) -> None:
    writer = await create(client)
    editor = await create(client, name="editor", model="test:editor")
    there = await client.post(f"/api/v1/agents/{writer['id']}/handoffs", json={"agent": "editor"})
    back = await client.post(f"/api/v1/agents/{editor['id']}/handoffs", json={"agent": "writer"})
    assert (there.status_code, back.status_code) == (201, 201)
    blocked = await client.delete(f"/api/v1/agents/{editor['id']}")
    assert blocked.status_code == 409
    assert blocked.json()["error"]["code"] == "conflict"
    assert "writer" in blocked.json()["error"]["message"]


async def test_tools_sub_resource_crud(client) -> None:
    writer = await create(client)
    base = f"/api/v1/agents/{writer['id']}/tools"
    assert (await client.get(base)).json() == []
    added = await client.post(base, json={"name": "calculator"})
    assert added.status_code == 201, added.text
    tool = added.json()
    assert tool == {"id": tool["id"], "name": "calculator", "config": {}}
    assert (await client.get(base)).json() == [tool]
    assert (await client.get(f"{base}/{tool['id']}")).json() == tool

    put = await client.put(
        f"{base}/{tool['id']}", json={"name": "current_datetime", "config": {"tz": "UTC"}}
    )
    assert put.status_code == 200, put.text
    assert put.json() == {"id": tool["id"], "name": "current_datetime", "config": {"tz": "UTC"}}
    stored = (await client.get(f"/api/v1/agents/{writer['id']}")).json()
    assert stored["tools"] == [put.json()]

    twice = await client.post(base, json={"name": "current_datetime"})
    assert (twice.status_code, twice.json()["error"]["field"]) == (422, "tools")
    assert (await client.delete(f"{base}/{tool['id']}")).status_code == 204
    assert (await client.get(base)).json() == []
    missing = await client.delete(f"{base}/{tool['id']}")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")


async def test_catalogs(client) -> None:
    tools = (await client.get("/api/v1/agents/tools/available")).json()
    assert {"calculator", "code_interpreter", "current_datetime", "http_fetch"} == {
        t["name"] for t in tools
    }
    assert all(set(t) == {"name", "description", "parameters", "category"} for t in tools)
    types = (await client.get("/api/v1/agents/output-types/available")).json()
    assert [t["name"] for t in types] == [
        "text",
        "classification",
        "sentiment",
        "summary",
        "entities",
    ]
    assert types[0] == {"name": "text", "description": "Free text (no schema).", "schema": None}
    one = (await client.get("/api/v1/agents/output-types/sentiment")).json()
    assert one == types[2]
    assert one["schema"]["required"] == ["sentiment", "reason"]
    unknown = await client.get("/api/v1/agents/output-types/poem")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")


async def test_an_output_type_schema_is_a_valid_output_schema(client) -> None:
    types = (await client.get("/api/v1/agents/output-types/available")).json()
    for index, output_type in enumerate(t for t in types if t["schema"] is not None):
        created = await create(client, name=f"typed {index}", output_schema=output_type["schema"])
        assert created["output_schema"] == output_type["schema"]
