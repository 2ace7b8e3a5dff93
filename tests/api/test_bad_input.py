"""Every bad request gets a 4xx with ``{"error": {"code", "message", "field"?}}`` — never a 500 —
and writes nothing: agent and run counts are unchanged afterwards."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

AGENTS = "/api/v1/agents"


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str  # {base} = a stored agent's id, {target}/{run}/{handoff}/{tool} likewise
    status: int
    code: str
    field: str | None = None
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


def spec(**fields: Any) -> dict[str, Any]:
    return {"name": "fresh", "model": "test:base", **fields}


def invalid_spec(
    case_id: str, body: dict[str, Any], field: str, code: str = "invalid_input"
) -> list[Case]:
    """The same bad spec, created with POST and written over ``base`` with PUT."""
    return [
        Case(f"create-{case_id}", "POST", AGENTS, 422, code, field, json=body),
        Case(f"update-{case_id}", "PUT", AGENTS + "/{base}", 422, code, field, json=body),
    ]


REGEX = {"type": "regex", "name": "r", "patterns": ["(unclosed"]}

CASES = [
    # unknown agent
    *(
        Case(
            f"unknown-agent-{m}-{p or 'agent'}",
            m,
            f"{AGENTS}/agt_missing{p}",
            404,
            "not_found",
            json=j,
        )
        for m, p, j in [
            ("GET", "", None),
            ("PUT", "", spec()),
            ("DELETE", "", None),
            ("POST", "/run", {"input": "hi"}),
            ("POST", "/clone", None),
            ("GET", "/export", None),
            ("GET", "/handoffs", None),
            ("POST", "/handoffs", {"agent": "target"}),
            ("GET", "/tools", None),
            ("POST", "/tools", {"name": "calculator"}),
        ]
    ),
    Case("unknown-handoff-get", "GET", AGENTS + "/{base}/handoffs/hof_missing", 404, "not_found"),
    Case(
        "unknown-handoff-put",
        "PUT",
        AGENTS + "/{base}/handoffs/hof_missing",
        404,
        "not_found",
        json={"agent": "target"},
    ),
    Case(
        "unknown-handoff-delete",
        "DELETE",
        AGENTS + "/{base}/handoffs/hof_missing",
        404,
        "not_found",
    ),
    Case("unknown-tool-get", "GET", AGENTS + "/{base}/tools/tool_missing", 404, "not_found"),
    Case(
        "unknown-tool-put",
        "PUT",
        AGENTS + "/{base}/tools/tool_missing",
        404,
        "not_found",
        json={"name": "calculator"},
    ),
    Case("unknown-tool-delete", "DELETE", AGENTS + "/{base}/tools/tool_missing", 404, "not_found"),
    # unknown run
    *(
        Case(f"unknown-run-{m}-{p or 'run'}", m, f"/api/v1/runs/run_missing{p}", 404, "not_found")
        for m, p in [
            ("GET", ""),
            ("GET", "/events"),
            ("GET", "/events/list"),
            ("GET", "/spans"),
            ("POST", "/cancel"),
        ]
    ),
    # invalid specs
    *invalid_spec("unknown-model", spec(model="test:nope"), "model", "unknown_model"),
    *invalid_spec("unknown-provider", spec(model="nope:x"), "model", "unknown_model"),
    *invalid_spec("model-shape", spec(model="no-colon"), "model"),
    *invalid_spec("model-empty-name", spec(model="test:"), "model"),
    *invalid_spec("unknown-tool", spec(tools=[{"name": "teleport"}]), "tools[0].name"),
    *invalid_spec("handoff-unknown", spec(handoffs=[{"agent": "nobody"}]), "handoffs[0].agent"),
    *invalid_spec(
        "handoff-bad-mode", spec(handoffs=[{"agent": "target", "mode": "x"}]), "handoffs[0].mode"
    ),
    *invalid_spec("schema-malformed", spec(output_schema={"type": 12}), "output_schema"),
    *invalid_spec("schema-not-object", spec(output_schema={"type": "string"}), "output_schema"),
    *invalid_spec("name-empty", spec(name=""), "name"),
    *invalid_spec("name-bad-chars", spec(name="a/b"), "name"),
    *invalid_spec("name-too-long", spec(name="a" * 101), "name"),
    *invalid_spec("instructions-oversize", spec(instructions="x" * 50_001), "instructions"),
    *invalid_spec("description-oversize", spec(description="x" * 2_001), "description"),
    *invalid_spec("extra-field", spec(colour="blue"), "colour"),
    *invalid_spec("max-turns-zero", spec(max_turns=0), "max_turns"),
    *invalid_spec("max-turns-high", spec(max_turns=101), "max_turns"),
    *invalid_spec(
        "temperature", spec(model_settings={"temperature": 3}), "model_settings.temperature"
    ),
    *invalid_spec("regex", spec(input_guardrails=[REGEX]), "input_guardrails[0].regex.patterns"),
    *invalid_spec(
        "guardrail-type", spec(output_guardrails=[{"type": "magic"}]), "output_guardrails[0]"
    ),
    *invalid_spec(
        "guardrail-model",
        spec(input_guardrails=[{"type": "llm", "criteria": "rude", "model": "test:nope"}]),
        "input_guardrails[0].model",
        "unknown_model",
    ),
    *invalid_spec(
        "tool-choice", spec(model_settings={"tool_choice": "hammer"}), "model_settings.tool_choice"
    ),
    *invalid_spec("not-an-object", [1, 2], ""),  # type: ignore[arg-type]
    Case(
        "handoff-self-by-name",
        "POST",
        AGENTS,
        422,
        "invalid_input",
        "handoffs[0].agent",
        json=spec(handoffs=[{"agent": "fresh"}]),
    ),
    Case(
        "handoff-self-by-id-put",
        "PUT",
        AGENTS + "/{base}",
        422,
        "invalid_input",
        "handoffs[0].agent",
        json=spec(name="base", handoffs=[{"agent": "{base}"}]),
    ),
    Case(
        "handoff-self-sub-resource",
        "POST",
        AGENTS + "/{base}/handoffs",
        422,
        "invalid_input",
        "agent",
        json={"agent": "base"},
    ),
    Case(
        "handoff-unknown-sub-resource",
        "POST",
        AGENTS + "/{base}/handoffs",
        422,
        "invalid_input",
        "agent",
        json={"agent": "nobody"},
    ),
    Case(
        "handoff-put-unknown-target",
        "PUT",
        AGENTS + "/{target}/handoffs/{handoff}",
        422,
        "invalid_input",
        "agent",
        json={"agent": "nobody"},
    ),
    Case(
        "tool-unknown-sub-resource",
        "POST",
        AGENTS + "/{base}/tools",
        422,
        "invalid_input",
        "tools[1].name",
        json={"name": "teleport"},
    ),
    Case(
        "tool-put-unknown",
        "PUT",
        AGENTS + "/{base}/tools/{tool}",
        422,
        "invalid_input",
        "tools[0].name",
        json={"name": "teleport"},
    ),
    Case(
        "clone-bad-name",
        "POST",
        AGENTS + "/{base}/clone",
        422,
        "invalid_input",
        "name",
        json={"name": "a/b"},
    ),
    # conflicts
    Case("duplicate-name", "POST", AGENTS, 409, "conflict", "name", json=spec(name="target")),
    Case(
        "rename-onto-taken",
        "PUT",
        AGENTS + "/{base}",
        409,
        "conflict",
        "name",
        json=spec(name="target"),
    ),
    Case(
        "clone-onto-taken",
        "POST",
        AGENTS + "/{base}/clone",
        409,
        "conflict",
        "name",
        json={"name": "target"},
    ),
    Case("delete-handoff-target", "DELETE", AGENTS + "/{target}", 409, "conflict"),
    Case("cancel-finished-run", "POST", "/api/v1/runs/{run}/cancel", 409, "conflict"),
    # run requests
    Case(
        "run-input-empty",
        "POST",
        AGENTS + "/{base}/run",
        422,
        "invalid_input",
        "input",
        json={"input": ""},
    ),
    Case(
        "run-input-missing", "POST", AGENTS + "/{base}/run", 422, "invalid_input", "input", json={}
    ),
    Case(
        "run-input-oversize",
        "POST",
        AGENTS + "/{base}/run",
        422,
        "invalid_input",
        "input",
        json={"input": "x" * 100_001},
    ),
    Case(
        "run-session-bad",
        "POST",
        AGENTS + "/{base}/run",
        422,
        "invalid_input",
        "session_id",
        json={"input": "hi", "session_id": "no spaces/slashes"},
    ),
    Case(
        "run-session-long",
        "POST",
        AGENTS + "/{base}/run",
        422,
        "invalid_input",
        "session_id",
        json={"input": "hi", "session_id": "s" * 201},
    ),
    Case(
        "run-extra-field",
        "POST",
        AGENTS + "/{base}/run",
        422,
        "invalid_input",
        "temperature",
        json={"input": "hi", "temperature": 1},
    ),
    Case(
        "run-provider-not-configured",
        "POST",
        AGENTS + "/{cloud}/run",
        400,
        "provider_not_configured",
        json={"input": "hi"},
    ),
    # bodies that are not what they claim
    Case(
        "invalid-json-create",
        "POST",
        AGENTS,
        422,
        "invalid_input",
        "body",
        content=b"{not json",
        headers={"content-type": "application/json"},
    ),
    Case(
        "invalid-json-run",
        "POST",
        AGENTS + "/{base}/run",
        422,
        "invalid_input",
        "body",
        content=b"{",
        headers={"content-type": "application/json"},
    ),
    Case(
        "import-garbage",
        "POST",
        AGENTS + "/import",
        422,
        "invalid_input",
        "body",
        content=b"name: [unclosed\n  : :",
    ),
    Case(
        "import-not-mapping",
        "POST",
        AGENTS + "/import",
        422,
        "invalid_input",
        "body",
        content=b"- a\n- b\n",
    ),
    Case("import-scalar", "POST", AGENTS + "/import", 422, "invalid_input", "body", content=b"42"),
    Case("import-empty", "POST", AGENTS + "/import", 422, "invalid_input", "body", content=b""),
    Case(
        "import-binary",
        "POST",
        AGENTS + "/import",
        422,
        "invalid_input",
        "body",
        content=b"\xff\xfe\x00",
    ),
    Case(
        "import-invalid-spec",
        "POST",
        AGENTS + "/import",
        422,
        "invalid_input",
        "model",
        content=b"name: fresh\nmodel: no-colon\n",
    ),
    Case(
        "import-unknown-model",
        "POST",
        AGENTS + "/import",
        422,
        "unknown_model",
        "model",
        content=b"name: fresh\nmodel: test:nope\n",
    ),
    Case(
        "import-duplicate",
        "POST",
        AGENTS + "/import",
        409,
        "conflict",
        "name",
        content=b"name: target\nmodel: test:base\n",
    ),
    # cursors and pages
    Case(
        "last-event-id-text",
        "GET",
        "/api/v1/runs/{run}/events",
        422,
        "invalid_input",
        "Last-Event-ID",
        headers={"Last-Event-ID": "abc"},
    ),
    Case(
        "last-event-id-negative",
        "GET",
        "/api/v1/runs/{run}/events",
        422,
        "invalid_input",
        "Last-Event-ID",
        headers={"Last-Event-ID": "-1"},
    ),
    Case(
        "after-negative",
        "GET",
        "/api/v1/runs/{run}/events",
        422,
        "invalid_input",
        "after",
        params={"after": -1},
    ),
    Case(
        "list-after-text",
        "GET",
        "/api/v1/runs/{run}/events/list",
        422,
        "invalid_input",
        "after",
        params={"after": "x"},
    ),
    *(
        Case(
            f"{path.rsplit('/', 1)[1]}-{name}-{value}",
            "GET",
            path,
            422,
            "invalid_input",
            name,
            params={name: value},
        )
        for path in (AGENTS, "/api/v1/runs")
        for name, value in (("page", 0), ("limit", 1000), ("limit", 0), ("page", "one"))
    ),
    Case(
        "runs-bad-status",
        "GET",
        "/api/v1/runs",
        422,
        "invalid_input",
        "status",
        params={"status": "sleeping"},
    ),
    Case(
        "unknown-provider-models", "GET", "/api/v1/models/providers/nope/models", 404, "not_found"
    ),
    Case("unknown-route", "GET", "/api/v1/nothing", 404, "not_found"),
    Case("wrong-method", "PATCH", AGENTS, 405, "method_not_allowed"),
]


@pytest.fixture
async def world(client, providers) -> dict[str, str]:
    """``base``; ``target`` with a handoff from ``source``; a cloud agent; one finished run."""
    from agents.testing import assistant_message

    providers.scripted("base").enqueue([assistant_message("done")])

    async def create(body: dict[str, Any]) -> dict[str, Any]:
        created = await client.post(AGENTS, json=body)
        assert created.status_code == 201, created.text
        return created.json()

    base = await create({"name": "base", "model": "test:base", "tools": [{"name": "calculator"}]})
    target = await create({"name": "target", "model": "test:base"})
    source = await create(
        {"name": "source", "model": "test:base", "handoffs": [{"agent": "target"}]}
    )
    cloud = await create({"name": "cloud", "model": "openai:gpt-4.1-mini"})
    ran = await client.post(f"{AGENTS}/{base['id']}/run", json={"input": "hi"})
    assert ran.json()["status"] == "succeeded"
    # the handoff on ``target`` (to ``source``) gives the PUT-handoff cases something to edit
    hof = await client.post(f"{AGENTS}/{target['id']}/handoffs", json={"agent": "base"})
    return {
        "base": base["id"],
        "target": target["id"],
        "source": source["id"],
        "cloud": cloud["id"],
        "run": ran.json()["run_id"],
        "handoff": hof.json()["id"],
        "tool": base["tools"][0]["id"],
    }


async def snapshot(client: httpx.AsyncClient) -> tuple[Any, ...]:
    agents = (await client.get(AGENTS, params={"limit": 100})).json()
    runs = (await client.get("/api/v1/runs", params={"limit": 100})).json()
    return agents["total"], agents["items"], runs["total"], [r["status"] for r in runs["items"]]


def fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, real in ids.items():
            value = value.replace("{" + key + "}", real)
        return value
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    return value


KNOWN_BUGS: dict[str, str] = {}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            c,
            id=c.id,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[c.id])]
            if c.id in KNOWN_BUGS
            else [],
        )
        for c in CASES
    ],
)
async def test_bad_input(client, world, case: Case) -> None:
    before = await snapshot(client)
    response = await client.request(
        case.method,
        fill(case.path, world),
        json=fill(case.json, world),
        content=case.content,
        headers=case.headers,
        params=case.params,
    )
    assert response.status_code == case.status, response.text
    error = response.json()["error"]
    assert (error["code"], error.get("field")) == (case.code, case.field)
    assert isinstance(error["message"], str) and error["message"]
    assert await snapshot(client) == before


async def test_provider_not_configured_names_the_setting(client, world, migrated) -> None:
    assert migrated.openai_api_key is None
    response = await client.post(f"{AGENTS}/{world['cloud']}/run", json={"input": "hi"})
    assert response.status_code == 400
    assert "NEXUS_OPENAI_API_KEY" in response.json()["error"]["message"]
    assert (await client.get("/api/v1/runs")).json()["total"] == 1


async def test_validation_errors_list_every_field(client) -> None:
    response = await client.post(AGENTS, json={"name": "", "model": "x", "max_turns": 0})
    assert response.status_code == 422
    details = response.json()["error"]["details"]
    assert sorted(d["field"] for d in details) == ["max_turns", "model", "name"]
