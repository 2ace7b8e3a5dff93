"""Every route of the OpenAPI spec, called without credentials and across workspaces.

The routes are enumerated from ``app.openapi()`` (and ``app.routes`` for the hidden ones), so a
route added later is covered without editing this file — and a route whose path names an object
kind this file does not know, or whose request body it cannot build, fails until it is added.

Two properties:

* without credentials (or with made-up ones) every operation answers 401 ``unauthenticated``,
  except the allow-list (health, auth status, login, first sign-up);
* a developer of workspace B naming the objects of workspace A (private and workspace-shared
  agents, their handoffs and tools, a finished run, user and workspace API keys, an API token,
  the workspace, its members) gets 404, exactly as for an id that does not exist — and nothing
  of A changes. ``/api/v1/users/{user_id}`` is for instance admins: 403 whether the id exists
  or not.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from agents.testing import assistant_message
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

PASSWORD = "correct horse battery staple"

# (method, path) that answer without credentials.
ALLOW_ANONYMOUS = frozenset(
    {
        ("GET", "/health"),
        ("GET", "/api/v1/auth/status"),
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/signup"),  # first account only, or while an admin opened it
    }
)
# Routes outside the spec: documentation and the web app's static files (public by design: the
# app's code holds no data; everything it shows comes from the authenticated API).
HIDDEN_ROUTES = frozenset(
    {"/openapi.json", "/docs", "/docs-assets", "/docs/oauth2-redirect", "/redoc", "/{path:path}"}
)
# WebSocket routes: not HTTP operations, so outside the spec; tests/api/test_ws.py checks that
# they refuse missing or bad credentials and answer not_found for other workspaces' ids.
WEBSOCKET_ROUTES = frozenset({"/ws"})
# Path parameters that name a catalog entry, not an object somebody owns.
CATALOG_PARAMS = {
    "provider": "openai",
    "type_name": "text",
    "node_id": "ask",
    "version": "1",
    "path": "main.py",  # a file of a code project (the project id leads)
}
# Routes only instance administrators reach: 403 for everyone else, found or not.
ADMIN_ONLY_PREFIX = "/api/v1/users/{user_id}"
MISSING_ID = "xyz_doesnotexist0000"
WORKFLOW = {
    "name": "flow",
    "nodes": [
        {"id": "start", "type": "input"},
        {"id": "ask", "type": "approval"},
        {"id": "out", "type": "output", "properties": {"name": "result"}},
    ],
    "edges": [
        {"id": "e1", "source": {"node": "start", "port": "output"},
         "target": {"node": "ask", "port": "input"}},
        {"id": "e2", "source": {"node": "ask", "port": "approved"},
         "target": {"node": "out", "port": "input"}},
    ],
}  # fmt: skip
APP_SERVER = """
import http.server, os
class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = answer
address = (os.environ["HOST"], int(os.environ["PORT"]))
http.server.ThreadingHTTPServer(address, Handler).serve_forever()
"""


def operations(app: FastAPI) -> list[tuple[str, str]]:
    spec = app.openapi()
    return sorted(
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "head", "options", "post", "put", "patch", "delete"}
    )


def error_code(response: httpx.Response) -> tuple[int, str | None]:
    """The status and the error body's code (a HEAD answer has no body: the status alone,
    its code taken as what the same GET would say)."""
    if response.request.method == "HEAD":
        codes = {401: "unauthenticated", 403: "forbidden", 404: "not_found"}
        return response.status_code, codes.get(response.status_code)
    return response.status_code, response.json()["error"]["code"]


def request_body(method: str, path: str, world: World) -> dict[str, Any]:
    """httpx keyword arguments carrying a valid body for the operation (none if it has none)."""
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/api/v1/auth/signup"): {"json": {"email": "x@nexus.test", "password": PASSWORD}},
        ("POST", "/api/v1/auth/login"): {"json": {"email": "x@nexus.test", "password": PASSWORD}},
        ("PUT", "/api/v1/auth/signup-open"): {"json": {"open": True}},
        ("POST", "/api/v1/auth/tokens"): {"json": {"name": "matrix"}},
        ("POST", "/api/v1/users/api-keys"): {
            "json": {"provider": "openai", "name": "k", "secret": "sk-matrix-0123456789abcdef"}
        },
        ("POST", "/api/v1/users"): {"json": {"email": "new@nexus.test", "password": PASSWORD}},
        ("PATCH", "/api/v1/users/{user_id}"): {"json": {"is_active": False}},
        ("POST", "/api/v1/workspaces"): {"json": {"name": "Matrix"}},
        ("POST", "/api/v1/workspaces/{workspace_id}/members"): {
            "json": {"email": world.intruder_email, "role": "admin"}
        },
        ("PUT", "/api/v1/workspaces/{workspace_id}/members/{user_id}"): {
            "json": {"role": "viewer"}
        },
        ("POST", "/api/v1/agents"): {"json": {"name": "made", "model": "test:shared"}},
        ("POST", "/api/v1/agents/import"): {
            "content": b"name: imported\nmodel: test:shared\n",
            "headers": {"Content-Type": "application/yaml"},
        },
        ("PUT", "/api/v1/agents/{agent_id}"): {
            "json": {"name": "taken-over", "model": "test:shared", "visibility": "public"}
        },
        ("POST", "/api/v1/agents/{agent_id}/clone"): {"json": {"name": "stolen"}},
        ("POST", "/api/v1/agents/{agent_id}/handoffs"): {"json": {"agent": world.helper_id}},
        ("PUT", "/api/v1/agents/{agent_id}/handoffs/{handoff_id}"): {
            "json": {"agent": world.helper_id, "mode": "tool"}
        },
        ("POST", "/api/v1/agents/{agent_id}/tools"): {"json": {"name": "calculator"}},
        ("PUT", "/api/v1/agents/{agent_id}/tools/{tool_id}"): {
            "json": {"name": "current_datetime"}
        },
        ("POST", "/api/v1/agents/{agent_id}/run"): {"json": {"input": "hi"}},
        ("POST", "/api/v1/sandbox/exec"): {"json": {"language": "python", "code": "print(1)"}},
        ("POST", "/api/v1/workflows"): {"json": {**WORKFLOW, "name": "made"}},
        ("POST", "/api/v1/workflows/validate"): {"json": WORKFLOW},
        ("POST", "/api/v1/workflows/import"): {
            "json": {**WORKFLOW, "name": "imported"},
            "headers": {"Content-Type": "application/json"},
        },
        ("PUT", "/api/v1/workflows/{workflow_id}"): {
            "json": {**WORKFLOW, "name": "taken-over", "visibility": "public"}
        },
        ("POST", "/api/v1/workflows/{workflow_id}/execute"): {"json": {"input_data": {}}},
        ("POST", "/api/v1/executions/{run_id}/rerun"): {"json": {"from_node": "start"}},
        ("POST", "/api/v1/executions/{run_id}/approvals/{node_id}"): {"json": {"approved": True}},
        ("POST", "/api/v1/code/projects"): {"json": {"name": "made"}},
        ("POST", "/api/v1/apps"): {
            "json": {"project_id": world.ids["project_id"][0], "entry": "main.py"}
        },
        ("PUT", "/api/v1/code/projects/{project_id}/files/{path}"): {
            "json": {"content": "print('taken over')\n"}
        },
        ("POST", "/api/v1/code/projects/{project_id}/revert"): {
            "json": {"path": "main.py", "version": 1}
        },
        ("POST", "/api/v1/code/tasks"): {"json": {"prompt": "print hi", "model": "test:shared"}},
        ("PUT", "/api/v1/admin/limits"): {"json": {"values": {"run_rate_per_minute": 60}}},
    }
    if (method, path) in bodies:
        return bodies[(method, path)]
    op = world.spec["paths"][path][method.lower()]
    assert "requestBody" not in op or not op["requestBody"].get("required"), (
        f"{method} {path} takes a body: add a valid one to request_body() so the matrix can "
        "prove that a well-formed request is refused"
    )
    return {}


@dataclass
class World:
    """Workspace A's objects, seen by a developer of workspace B (``intruder``)."""

    spec: dict[str, Any]
    owner: httpx.AsyncClient  # alice, developer of A, owns most objects
    admin: httpx.AsyncClient  # instance admin, admin of A
    intruder: httpx.AsyncClient  # bob, developer of workspace B
    intruder_email: str
    helper_id: str
    # kind of path parameter → the ids of A's objects of that kind
    ids: dict[str, list[str]]
    # agent id → its handoff id and tool id
    parts: dict[str, dict[str, str]]


async def _json(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
async def world(app: FastAPI, client, make_user, providers) -> World:
    alice = await make_user("alice@nexus.test", role="developer")
    bob = await make_user("bob@nexus.test", role="developer", workspace="Team B")
    me_alice = await _json(await alice.get("/api/v1/auth/me"))
    me_bob = await _json(await bob.get("/api/v1/auth/me"))
    assert me_alice["workspace_id"] != me_bob["workspace_id"]

    for name in ("helper", "private", "shared"):
        providers.scripted(name)
    helper = await _json(
        await alice.post("/api/v1/agents", json={"name": "helper", "model": "test:helper"}), 201
    )
    agents: list[str] = []
    parts: dict[str, dict[str, str]] = {}
    for name, visibility in (("private", "private"), ("shared", "workspace")):
        body = {"name": name, "model": f"test:{name}", "visibility": visibility}
        agent = await _json(await alice.post("/api/v1/agents", json=body), 201)
        url = f"/api/v1/agents/{agent['id']}"
        handoff = await _json(await alice.post(f"{url}/handoffs", json={"agent": "helper"}), 201)
        tool = await _json(await alice.post(f"{url}/tools", json={"name": "calculator"}), 201)
        agents.append(agent["id"])
        parts[agent["id"]] = {"handoff_id": handoff["id"], "tool_id": tool["id"]}

    providers.scripted("shared").enqueue([assistant_message("done")])
    ran = await _json(await alice.post(f"/api/v1/agents/{agents[1]}/run", json={"input": "hi"}))
    assert ran["status"] == "succeeded"

    workflows: list[str] = []
    for name, visibility in (("private-flow", "private"), ("shared-flow", "workspace")):
        body = {**WORKFLOW, "name": name, "visibility": visibility}
        workflow = await _json(await alice.post("/api/v1/workflows", json=body), 201)
        await _json(await alice.post(f"/api/v1/workflows/{workflow['id']}/versions"), 201)
        workflows.append(workflow["id"])
    flow = await alice.post(f"/api/v1/workflows/{workflows[0]}/execute", json={"input_data": {}})
    waiting = (await _json(flow))["execution_id"]
    approve = {"approved": True}
    await _json(await alice.post(f"/api/v1/executions/{waiting}/approvals/ask", json=approve), 202)
    for _ in range(1000):  # the approved run finishes in the background
        if (await _json(await alice.get(f"/api/v1/runs/{waiting}")))["status"] == "succeeded":
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the approved workflow run did not finish")

    projects: list[str] = []
    for name, visibility in (("private-code", "private"), ("shared-code", "workspace")):
        body = {"name": name, "visibility": visibility, "files": {"main.py": "print(1)\n"}}
        project = await _json(await alice.post("/api/v1/code/projects", json=body), 201)
        projects.append(project["id"])

    # Hosted apps (private and workspace-shared; public ones answer anyone by design) of a
    # project whose main.py is a web app answering 200 to everything.
    served = {"name": "served", "files": {"main.py": APP_SERVER}}
    served_id = (await _json(await alice.post("/api/v1/code/projects", json=served), 201))["id"]
    hosted: list[str] = []
    for access in ("private", "workspace"):
        body = {"project_id": served_id, "entry": "main.py", "access": access}
        started = await _json(await alice.post("/api/v1/apps", json=body), 201)
        assert started["status"] == "running", started
        hosted.append(started["id"])

    key = {"provider": "openai", "name": "mine", "secret": "sk-alice-0123456789abcdef"}
    user_key = await _json(await alice.post("/api/v1/users/api-keys", json=key), 201)
    ws_key = {**key, "name": "team", "scope": "workspace"}
    workspace_key = await _json(await client.post("/api/v1/users/api-keys", json=ws_key), 201)
    token = await _json(await alice.post("/api/v1/auth/tokens", json={"name": "ci"}), 201)

    return World(
        spec=app.openapi(),
        owner=alice,
        admin=client,
        intruder=bob,
        intruder_email="bob@nexus.test",
        helper_id=helper["id"],
        ids={
            "agent_id": agents,
            "run_id": [ran["run_id"], waiting],
            "workflow_id": workflows,
            "project_id": projects,
            "app_id": hosted,
            "key_id": [user_key["id"], workspace_key["id"]],
            "token_id": [token["id"]],
            "workspace_id": [me_alice["workspace_id"]],
            "user_id": [me_alice["user"]["id"]],
        },
        parts=parts,
    )


def fill(path: str, world: World) -> list[str]:
    """Concrete URLs for a path template, one per object of A it can name."""
    names = re.findall(r"{(\w+)}", path)
    unknown = [
        n
        for n in names
        if n not in world.ids and n not in CATALOG_PARAMS and n not in ("handoff_id", "tool_id")
    ]
    assert not unknown, (
        f"{path} names {unknown}: add an object of that kind to the world fixture so the "
        "matrix can check who may reach it"
    )
    lead = next((n for n in names if n in world.ids), None)
    leads = world.ids[lead] if lead is not None else [""]
    urls = []
    for value in leads:
        url = path
        for name in names:
            if name == lead:
                replacement = value
            elif name in ("handoff_id", "tool_id"):
                replacement = world.parts[value][name]
            elif name in world.ids:
                replacement = world.ids[name][0]
            else:
                replacement = CATALOG_PARAMS[name]
            url = url.replace("{" + name + "}", replacement)
        urls.append(url)
    return urls


def missing(path: str) -> str:
    """The same template with every object id replaced by one that does not exist."""
    return re.sub(r"{(\w+)}", lambda m: CATALOG_PARAMS.get(m.group(1), MISSING_ID), path)


def test_every_route_is_in_the_spec_or_known_hidden(app: FastAPI) -> None:
    """A route left out of the schema would escape the matrix: only the docs may be."""
    in_spec = set(operations(app))
    hidden: set[str] = set()
    for route in iter_route_contexts(app.routes):
        if getattr(route.original_route, "include_in_schema", False):
            for method in route.methods or ():
                # the spec writes a converter parameter ({path:path}) as {path}
                path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)
                assert (method, path) in in_spec, f"{method} {route.path} is not in the spec"
        else:
            hidden.add(route.path)
    assert hidden <= HIDDEN_ROUTES | WEBSOCKET_ROUTES


CREDENTIALS: dict[str, dict[str, Any]] = {
    "none": {},
    "made-up token": {"headers": {"Authorization": "Bearer nx_madeupmadeupmadeupmadeup"}},
    "not bearer": {"headers": {"Authorization": "Basic YWRtaW46YWRtaW4="}},
    "made-up session": {"cookies": {"nexus_session": "madeup"}},
}


@pytest.mark.parametrize("credentials", list(CREDENTIALS))
async def test_without_valid_credentials_every_route_is_401(
    app: FastAPI, world: World, connect, credentials: str, record_property
) -> None:
    ops = operations(app)
    extra = CREDENTIALS[credentials]
    covered: list[tuple[str, str]] = []
    wrong: list[str] = []
    async with connect(app, **extra) as caller:
        for method, path in ops:
            if (method, path) in ALLOW_ANONYMOUS:
                continue
            for url in fill(path, world):
                response = await caller.request(method, url, **request_body(method, path, world))
                if error_code(response) != (401, "unauthenticated"):
                    wrong.append(f"{method} {url} → {response.status_code} {response.text}")
            covered.append((method, path))
    print(f"auth matrix ({credentials}): {len(covered)} of {len(ops)} operations answer 401")
    record_property("unauthenticated_routes", len(covered))
    assert wrong == []
    assert len(covered) >= len(ops) - len(ALLOW_ANONYMOUS)
    assert set(ops) - set(covered) == ALLOW_ANONYMOUS


async def test_allow_listed_routes_work_anonymously(app: FastAPI, world: World, anon) -> None:
    assert (await anon.get("/health")).status_code == 200
    status = await _json(await anon.get("/api/v1/auth/status"))
    assert status == {"has_users": True, "signup_open": False}
    login = {"email": "alice@nexus.test", "password": PASSWORD}
    assert (await anon.post("/api/v1/auth/login", json=login)).status_code == 200
    # Users exist and nobody opened sign-up: refused, and nobody was created.
    signup = await anon.post(
        "/api/v1/auth/signup", json={"email": "eve@nexus.test", "password": PASSWORD}
    )
    assert (signup.status_code, signup.json()["error"]["code"]) == (403, "forbidden")
    users = await _json(await world.admin.get("/api/v1/users"))
    assert "eve@nexus.test" not in {u["email"] for u in users}


async def test_first_signup_is_anonymous(anon) -> None:
    signup = await anon.post(
        "/api/v1/auth/signup", json={"email": "first@nexus.test", "password": PASSWORD}
    )
    assert signup.status_code == 201, signup.text


async def _snapshot(world: World) -> list[Any]:
    """What A's owner sees of A's objects, to prove the intruder changed none of it."""
    seen = []
    for agent_id in world.ids["agent_id"]:
        seen.append(await _json(await world.owner.get(f"/api/v1/agents/{agent_id}")))
    for run_id in world.ids["run_id"]:
        seen.append(await _json(await world.owner.get(f"/api/v1/executions/{run_id}")))
    for workflow_id in world.ids["workflow_id"]:
        seen.append(await _json(await world.owner.get(f"/api/v1/workflows/{workflow_id}")))
    for project_id in world.ids["project_id"]:
        url = f"/api/v1/code/projects/{project_id}"
        seen.append(await _json(await world.owner.get(url)))
        seen.append(await _json(await world.owner.get(f"{url}/files/main.py/versions")))
    for app_id in world.ids["app_id"]:  # (uptime and CPU move on; the status must not)
        seen.append((await _json(await world.owner.get(f"/api/v1/apps/{app_id}")))["status"])
    seen.append(await _json(await world.owner.get("/api/v1/users/api-keys")))
    seen.append(await _json(await world.owner.get("/api/v1/auth/tokens")))
    seen.append(await _json(await world.admin.get("/api/v1/users")))
    ws = world.ids["workspace_id"][0]
    seen.append(await _json(await world.owner.get(f"/api/v1/workspaces/{ws}/members")))
    return seen


async def test_objects_of_another_workspace_are_not_found(world: World, record_property) -> None:
    before = await _snapshot(world)
    ops = operations(world.intruder._transport.app)  # type: ignore[attr-defined]
    with_ids = [
        (m, p) for m, p in ops if any(n not in CATALOG_PARAMS for n in re.findall(r"{(\w+)}", p))
    ]
    wrong: list[str] = []
    calls = 0
    for method, path in with_ids:
        kwargs = request_body(method, path, world)
        admin_only = path.startswith(ADMIN_ONLY_PREFIX)
        expected = 403 if admin_only else 404
        absent = await world.intruder.request(method, missing(path), **kwargs)
        for url in fill(path, world):
            calls += 1
            response = await world.intruder.request(method, url, **kwargs)
            if response.status_code != expected:
                wrong.append(f"{method} {url} → {response.status_code} {response.text}")
            # Existence must not leak: the same answer as for an id that does not exist.
            elif error_code(response) != error_code(absent):
                wrong.append(f"{method} {url}: {response.text} but absent → {absent.text}")
    print(
        f"auth matrix (cross-workspace): {len(with_ids)} operations with object ids, "
        f"{calls} calls on workspace A's objects"
    )
    record_property("cross_workspace_routes", len(with_ids))
    assert wrong == []
    assert len(with_ids) >= 25  # the agents, parts, runs, keys, tokens, users, members routes
    assert await _snapshot(world) == before
    # The intruder's own view did not gain anything either.
    mine = await _json(await world.intruder.get("/api/v1/agents"))
    assert [a["name"] for a in mine["items"]] == []
    assert (await _json(await world.intruder.get("/api/v1/runs")))["total"] == 0


async def test_the_ids_used_are_real(world: World) -> None:
    """The 404s above mean something only if the owner reaches the same URLs."""
    ops = operations(world.owner._transport.app)  # type: ignore[attr-defined]
    checked = 0
    for method, path in ops:
        if method != "GET" or "{" not in path or path.startswith(ADMIN_ONLY_PREFIX):
            continue
        for url in fill(path, world):
            response = await world.owner.get(url)
            assert response.status_code == 200, f"{url}: {response.text}"
            checked += 1
    user_id = world.ids["user_id"][0]
    assert (await world.admin.get(f"/api/v1/users/{user_id}")).status_code == 200
    assert checked >= 12
