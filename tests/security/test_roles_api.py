"""What each role may do, as a table: admin, developer and viewer of workspace A, and a
developer of workspace B, against agents of every visibility, runs, users and members.

Workspace A ("Default"): ``admin`` (instance and workspace admin), ``dev`` and ``dev2``
(developers), ``viewer``. Workspace B: ``outsider`` (developer). Agents: ``shared``
(workspace-visible, owned by dev2), ``private`` (dev2's), ``own`` (dev's, private),
``public`` and ``hidden`` (outsider's in B: public and private).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from agents.testing import assistant_message

Expected = int


@dataclass
class Team:
    clients: dict[str, httpx.AsyncClient]
    agents: dict[str, str]  # name → id
    user_ids: dict[str, str]
    workspace_a: str
    run_of_dev2: str


async def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


@pytest.fixture
async def team(client, make_user, providers) -> Team:
    clients = {
        "admin": client,
        "dev": await make_user("dev@nexus.test", role="developer"),
        "dev2": await make_user("dev2@nexus.test", role="developer"),
        "viewer": await make_user("viewer@nexus.test", role="viewer"),
        "outsider": await make_user("out@nexus.test", role="developer", workspace="Team B"),
    }
    user_ids = {}
    for name, http in clients.items():
        user_ids[name] = (await _ok(await http.get("/api/v1/auth/me")))["user"]["id"]
    workspace_a = (await _ok(await client.get("/api/v1/auth/me")))["workspace_id"]
    agents = {}
    for name, owner, visibility in (
        ("shared", "dev2", "workspace"),
        ("private", "dev2", "private"),
        ("own", "dev", "private"),
        ("public", "outsider", "public"),
        ("hidden", "outsider", "private"),
    ):
        providers.scripted(name)
        body = {"name": name, "model": f"test:{name}", "visibility": visibility}
        agents[name] = (await _ok(await clients[owner].post("/api/v1/agents", json=body), 201))[
            "id"
        ]
    providers.scripted("shared").enqueue([assistant_message("for dev2")])
    ran = await _ok(
        await clients["dev2"].post(f"/api/v1/agents/{agents['shared']}/run", json={"input": "hi"})
    )
    return Team(clients, agents, user_ids, workspace_a, ran["run_id"])


def _edit(name: str) -> dict[str, Any]:
    return {"name": name, "model": f"test:{name}", "description": "edited"}


AGENT_TABLE: list[tuple[str, str, str, Expected]] = [
    # viewer: reads and runs what the workspace shares, changes nothing
    ("viewer", "read", "shared", 200),
    ("viewer", "run", "shared", 200),
    ("viewer", "update", "shared", 403),
    ("viewer", "delete", "shared", 403),
    ("viewer", "clone", "shared", 403),
    ("viewer", "read", "private", 404),
    ("viewer", "update", "private", 404),
    # developer: own and workspace-shared agents
    ("dev", "read", "own", 200),
    ("dev", "update", "own", 200),
    ("dev", "delete", "own", 204),
    ("dev", "read", "shared", 200),
    ("dev", "update", "shared", 200),
    ("dev", "run", "shared", 200),
    ("dev", "delete", "shared", 204),
    ("dev", "clone", "shared", 201),
    ("dev", "read", "private", 404),
    ("dev", "update", "private", 404),
    ("dev", "delete", "private", 404),
    ("dev", "run", "private", 404),
    ("dev", "clone", "private", 404),
    # workspace admin: everything in the workspace, private agents included
    ("admin", "read", "private", 200),
    ("admin", "update", "private", 200),
    ("admin", "delete", "private", 204),
    # another workspace's public agent: read, run and clone, never change
    ("dev", "read", "public", 200),
    ("dev", "run", "public", 200),
    ("dev", "clone", "public", 201),
    ("dev", "update", "public", 403),
    ("dev", "delete", "public", 403),
    ("admin", "update", "public", 403),
    ("admin", "delete", "public", 403),
    ("viewer", "read", "public", 200),
    # another workspace's private agent: not there, even for the instance admin's workspace
    ("dev", "read", "hidden", 404),
    ("dev", "update", "hidden", 404),
    ("dev", "clone", "hidden", 404),
    ("admin", "read", "hidden", 404),
    ("admin", "delete", "hidden", 404),
    ("outsider", "read", "shared", 404),
    ("outsider", "run", "shared", 404),
]


async def _act(http: httpx.AsyncClient, action: str, agent_id: str, name: str) -> httpx.Response:
    url = f"/api/v1/agents/{agent_id}"
    if action == "read":
        return await http.get(url)
    if action == "update":
        return await http.put(url, json=_edit(name))
    if action == "delete":
        return await http.delete(url)
    if action == "clone":
        return await http.post(f"{url}/clone", json={"name": f"{name}-clone"})
    assert action == "run"
    return await http.post(f"{url}/run", json={"input": "hi"})


@pytest.mark.parametrize(("actor", "action", "target", "expected"), AGENT_TABLE)
async def test_agent_permissions(
    team: Team, providers, actor: str, action: str, target: str, expected: int
) -> None:
    agent_id = team.agents[target]
    owner = "outsider" if target in ("public", "hidden") else ("dev" if target == "own" else "dev2")
    before = (await team.clients[owner].get(f"/api/v1/agents/{agent_id}")).json()
    if action == "run":
        providers.scripted(target).enqueue([assistant_message("ran")])
    response = await _act(team.clients[actor], action, agent_id, target)
    assert response.status_code == expected, response.text
    after = await team.clients[owner].get(f"/api/v1/agents/{agent_id}")
    if expected >= 400:
        code = {403: "forbidden", 404: "not_found"}[expected]
        assert response.json()["error"]["code"] == code
        assert after.json() == before  # a refused request changed nothing
    elif action == "update":
        assert after.json()["description"] == "edited"
    elif action == "delete":
        assert after.status_code == 404
    elif action == "run":
        assert response.json()["status"] == "succeeded"
        run = await _ok(await team.clients[actor].get(f"/api/v1/runs/{response.json()['run_id']}"))
        assert run["agent_id"] == agent_id
    elif action == "clone":
        clone = response.json()
        me = await _ok(await team.clients[actor].get("/api/v1/auth/me"))
        assert (clone["owner_id"], clone["workspace_id"], clone["visibility"]) == (
            team.user_ids[actor],
            me["workspace_id"],
            "private",
        )
        assert clone["id"] != agent_id and clone["editable"] is True
        assert after.json() == before


@pytest.mark.parametrize(("actor", "expected"), [("viewer", 403), ("dev", 201), ("admin", 201)])
async def test_who_creates_agents(team: Team, providers, actor: str, expected: int) -> None:
    providers.scripted("made")
    response = await team.clients[actor].post(
        "/api/v1/agents", json={"name": "made", "model": "test:made"}
    )
    assert response.status_code == expected, response.text
    if expected == 201:
        assert response.json()["owner_id"] == team.user_ids[actor]


def _user_calls(team: Team) -> list[tuple[str, str, dict[str, Any], int]]:
    """(method, url, body, status for the admin) of user and member management."""
    ws = team.workspace_a
    dev2 = team.user_ids["dev2"]
    return [
        ("GET", "/api/v1/users", {}, 200),
        ("POST", "/api/v1/users", {"email": "n@nexus.test", "password": "pw long enough 1"}, 201),
        ("GET", f"/api/v1/users/{dev2}", {}, 200),
        ("PATCH", f"/api/v1/users/{dev2}", {"is_active": False}, 200),
        ("GET", "/api/v1/audit", {}, 200),
        ("POST", f"/api/v1/workspaces/{ws}/members", {"email": "out@nexus.test"}, 201),
        ("PUT", f"/api/v1/workspaces/{ws}/members/{dev2}", {"role": "admin"}, 200),
        ("DELETE", f"/api/v1/workspaces/{ws}/members/{dev2}", {}, 204),
    ]


@pytest.mark.parametrize("actor", ["viewer", "dev", "admin"])
async def test_who_manages_users_and_members(team: Team, actor: str) -> None:
    http = team.clients[actor]
    members_before = await _ok(await http.get(f"/api/v1/workspaces/{team.workspace_a}/members"))
    for method, url, body, admin_status in _user_calls(team):
        response = await http.request(method, url, json=body or None)
        expected = admin_status if actor == "admin" else 403
        assert response.status_code == expected, f"{method} {url}: {response.text}"
        if actor != "admin":
            assert response.json()["error"]["code"] == "forbidden"
    if actor != "admin":
        after = await _ok(await http.get(f"/api/v1/workspaces/{team.workspace_a}/members"))
        assert after == members_before
        assert (await team.clients["dev2"].get("/api/v1/auth/me")).status_code == 200


async def test_members_listing_is_for_members(team: Team) -> None:
    url = f"/api/v1/workspaces/{team.workspace_a}/members"
    listed = await _ok(await team.clients["viewer"].get(url))
    assert {m["email"] for m in listed} == {
        "admin@nexus.test",
        "dev@nexus.test",
        "dev2@nexus.test",
        "viewer@nexus.test",
    }
    assert (await team.clients["outsider"].get(url)).status_code == 404


async def test_a_workspace_admin_of_b_cannot_touch_a(team: Team, make_user) -> None:
    """Being admin somewhere gives nothing elsewhere."""
    boss = await make_user("boss@nexus.test", role="admin", workspace="Team B")
    ws = team.workspace_a
    dev2 = team.user_ids["dev2"]
    for method, url, body in (
        ("GET", f"/api/v1/workspaces/{ws}/members", None),
        ("POST", f"/api/v1/workspaces/{ws}/members", {"email": "boss@nexus.test"}),
        ("PUT", f"/api/v1/workspaces/{ws}/members/{dev2}", {"role": "viewer"}),
        ("DELETE", f"/api/v1/workspaces/{ws}/members/{dev2}", None),
        ("GET", f"/api/v1/agents/{team.agents['private']}", None),
        ("GET", f"/api/v1/runs/{team.run_of_dev2}", None),
    ):
        response = await boss.request(method, url, json=body)
        assert response.status_code == 404, f"{method} {url}: {response.text}"
    assert (await boss.get("/api/v1/users")).status_code == 403


@pytest.mark.parametrize(
    ("actor", "expected"),
    [("dev2", 200), ("admin", 200), ("dev", 404), ("viewer", 404), ("outsider", 404)],
)
async def test_who_sees_a_run(team: Team, actor: str, expected: int) -> None:
    """A run is its owner's; the workspace's admins see the runs of its members."""
    http = team.clients[actor]
    run_url = f"/api/v1/runs/{team.run_of_dev2}"
    for url in (run_url, f"{run_url}/events/list", f"{run_url}/spans"):
        assert (await http.get(url)).status_code == expected, url
    listed = await _ok(await http.get("/api/v1/runs"))
    assert (team.run_of_dev2 in {r["id"] for r in listed["items"]}) is (expected == 200)
    cancel = await http.post(f"{run_url}/cancel")
    assert cancel.status_code == (409 if expected == 200 else 404)  # it already finished
