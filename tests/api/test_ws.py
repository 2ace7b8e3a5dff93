"""``/ws``: authentication at the handshake, run and workflow subscriptions (replay + live, no gap
or duplicate across a reconnect), ``execute_node`` test runs, and bad messages.

The socket is driven in-process on the test's event loop (``AsgiSocket``), against the same app
and SQLite file as the HTTP clients, so runs, events and the bus are the real ones.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from agents.testing import ModelCall, ModelStep, assistant_message
from fastapi import FastAPI

from nexus.store import event_log

PASSWORD = "correct horse battery staple"
WAIT_S = 60.0
"""A safety net against a hung test (never an assertion about speed)."""


class Refused(Exception):
    """The server closed the socket; ``code`` is the close code, ``accepted`` whether the
    handshake had succeeded first (a refused handshake is an HTTP 403 to a real client)."""

    def __init__(self, code: int, reason: str, accepted: bool) -> None:
        super().__init__(f"closed {code} {reason!r} (accepted={accepted})")
        self.code, self.reason, self.accepted = code, reason, accepted


class AsgiSocket:
    """A WebSocket client of an ASGI app, in-process, speaking the ASGI messages directly."""

    def __init__(
        self,
        app: FastAPI,
        *,
        query: str = "",
        headers: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
    ) -> None:
        raw = [(b"host", b"nexus.test")]
        for name, value in (headers or {}).items():
            raw.append((name.lower().encode(), value.encode()))
        if cookies:
            cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
            raw.append((b"cookie", cookie.encode()))
        self.scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "scheme": "ws",
            "server": ("nexus.test", 80),
            "client": ("127.0.0.1", 50000),
            "root_path": "",
            "path": "/ws",
            "raw_path": b"/ws",
            "query_string": query.encode(),
            "headers": raw,
            "subprotocols": [],
        }
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AsgiSocket:
        await self.inbox.put({"type": "websocket.connect"})
        self.task = asyncio.get_running_loop().create_task(
            self.app(self.scope, self.inbox.get, self.outbox.put)
        )
        first = await self._next()
        if first["type"] == "websocket.close":
            raise Refused(first.get("code", 1000), first.get("reason") or "", accepted=False)
        assert first["type"] == "websocket.accept", first
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.inbox.put({"type": "websocket.disconnect", "code": 1000})
        assert self.task is not None
        await asyncio.wait_for(self.task, WAIT_S)

    async def _next(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.outbox.get(), WAIT_S)

    async def send(self, message: Any) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        await self.inbox.put({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        await self.inbox.put({"type": "websocket.receive", "bytes": data})

    async def receive(self) -> dict[str, Any]:
        message = await self._next()
        if message["type"] == "websocket.close":
            raise Refused(message.get("code", 1000), message.get("reason") or "", accepted=True)
        assert message["type"] == "websocket.send", message
        return json.loads(message["text"])

    async def ask(self, message: dict[str, Any] | str) -> dict[str, Any]:
        await self.send(message)
        return await self.receive()

    async def until(self, predicate: Any) -> list[dict[str, Any]]:
        """Frames up to and including the first one ``predicate`` accepts."""
        frames = []
        while True:
            frame = await self.receive()
            frames.append(frame)
            if predicate(frame):
                return frames


async def refusal(app: FastAPI, **kwargs: Any) -> Refused:
    with pytest.raises(Refused) as caught:
        async with AsgiSocket(app, **kwargs) as socket:
            await socket.receive()
    return caught.value


def is_event(name: str, run_id: str | None = None) -> Any:
    return lambda f: f["type"] == "event" and f["event"] == name and run_id in (None, f["run_id"])


async def token_of(client: httpx.AsyncClient) -> str:
    return client.headers["authorization"].removeprefix("Bearer ")


def edge(i: int, src: str, sport: str, dst: str, dport: str = "input") -> dict[str, Any]:
    return {
        "id": f"e{i}",
        "source": {"node": src, "port": sport},
        "target": {"node": dst, "port": dport},
    }


GATE = {
    "name": "gate",
    "nodes": [
        {"id": "start", "type": "input"},
        {"id": "ask", "type": "approval"},
        {"id": "out", "type": "output", "properties": {"name": "result"}},
    ],
    "edges": [edge(0, "start", "output", "ask"), edge(1, "ask", "approved", "out")],
}


def thinking_then_gate(model: str) -> dict[str, Any]:
    """input → llm → approval → output: two places where a run stops until the test says."""
    return {
        "name": "think",
        "nodes": [
            {"id": "start", "type": "input", "properties": {"field": "topic"}},
            {
                "id": "think",
                "type": "llm",
                "properties": {"model": f"test:{model}", "prompt": "About {{ inputs.topic }}"},
            },
            {"id": "ask", "type": "approval"},
            {"id": "out", "type": "output", "properties": {"name": "result"}},
        ],
        "edges": [
            edge(0, "start", "output", "think"),
            edge(1, "think", "output", "ask"),
            edge(2, "ask", "approved", "out"),
        ],
    }


def blocking_model(providers: Any, name: str, answer: str) -> tuple[asyncio.Event, asyncio.Event]:
    entered, release = asyncio.Event(), asyncio.Event()

    async def responder(_call: ModelCall) -> list[Any]:
        entered.set()
        await release.wait()
        return [assistant_message(answer)]

    providers.scripted(name).enqueue(ModelStep.respond(responder))
    return entered, release


async def create_workflow(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    response = await client.post("/api/v1/workflows", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def start(client: httpx.AsyncClient, workflow_id: str, inputs: dict[str, Any]) -> str:
    body = {"input_data": inputs, "options": {"async": True}}
    response = await client.post(f"/api/v1/workflows/{workflow_id}/execute", json=body)
    assert response.status_code == 202, response.text
    return response.json()["execution_id"]


async def wait_status(client: httpx.AsyncClient, run_id: str, status: str) -> None:
    for _ in range(2000):
        response = await client.get(f"/api/v1/runs/{run_id}")
        if response.json()["status"] == status:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"run {run_id} never became {status}: {response.text}")


async def stored_events(client: httpx.AsyncClient, run_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/runs/{run_id}/events/list")
    assert response.status_code == 200, response.text
    return response.json()


# ------------------------------------------------------------------ authentication


async def test_without_credentials_the_socket_is_closed_4401(app: FastAPI) -> None:
    for kwargs in (
        {},
        {"query": "token=nx_madeupmadeupmadeupmadeup"},
        {"headers": {"Authorization": "Bearer nx_madeupmadeupmadeupmadeup"}},
        {"headers": {"Authorization": "Basic YWRtaW46YWRtaW4="}},
        {"cookies": {"nexus_session": "madeup"}, "headers": {"Origin": "http://nexus.test"}},
    ):
        refused = await refusal(app, **kwargs)
        assert (refused.code, refused.accepted) == (4401, True), kwargs


async def test_a_token_in_the_header_or_the_query_opens_the_socket(app: FastAPI, client) -> None:
    token = await token_of(client)
    for kwargs in ({"headers": {"Authorization": f"Bearer {token}"}}, {"query": f"token={token}"}):
        async with AsgiSocket(app, **kwargs) as socket:
            assert await socket.ask({"type": "ping", "id": 7}) == {"type": "pong", "id": 7}


async def test_a_workspace_the_caller_is_not_in_closes_4404(app: FastAPI, client) -> None:
    token = await token_of(client)
    refused = await refusal(app, query=f"token={token}&workspace=wsp_notmine")
    assert (refused.code, refused.accepted) == (4404, True)


async def test_the_session_cookie_needs_a_same_site_origin(app: FastAPI, client, anon) -> None:
    login = await anon.post(
        "/api/v1/auth/login", json={"email": "admin@nexus.test", "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    cookies = {"nexus_session": login.cookies["nexus_session"]}
    async with AsgiSocket(app, cookies=cookies, headers={"Origin": "http://nexus.test"}) as socket:
        assert await socket.ask({"type": "ping"}) == {"type": "pong"}
    # Cross-site WebSocket hijacking: another site's page, or no Origin at all, is refused
    # before the handshake completes.
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "http://nexus.test.evil"}, {}):
        refused = await refusal(app, cookies=cookies, headers=headers)
        assert (refused.code, refused.accepted) == (4403, False), headers


async def test_a_configured_cors_origin_may_use_the_session_cookie(
    migrated, providers, app_factory, connect
) -> None:
    settings = migrated.model_copy(update={"cors_origins": ["https://ui.example"]})
    async with app_factory(settings, providers) as app:
        await app.state.accounts.signup("admin@nexus.test", PASSWORD)
        async with connect(app) as anon:
            body = {"email": "admin@nexus.test", "password": PASSWORD}
            login = await anon.post("/api/v1/auth/login", json=body)
        assert login.status_code == 200, login.text
        cookies = {"nexus_session": login.cookies["nexus_session"]}
        headers = {"Origin": "https://ui.example"}
        async with AsgiSocket(app, cookies=cookies, headers=headers) as socket:
            assert await socket.ask({"type": "ping"}) == {"type": "pong"}
        refused = await refusal(app, cookies=cookies, headers={"Origin": "https://ui.example.org"})
        assert (refused.code, refused.accepted) == (4403, False)


async def test_ids_of_another_workspace_are_not_found(app: FastAPI, client, make_user) -> None:
    alice = await make_user("alice@nexus.test", role="developer")
    bob = await make_user("bob@nexus.test", role="developer", workspace="Team B")
    workflow_id = await create_workflow(alice, {**GATE, "visibility": "private"})
    run_id = await start(alice, workflow_id, {})
    async with AsgiSocket(app, query=f"token={await token_of(bob)}") as socket:
        for message in (
            {"type": "subscribe", "run_id": run_id},
            {"type": "subscribe", "workflow_id": workflow_id},
            {"type": "execute_node", "workflow_id": workflow_id, "node_id": "ask"},
        ):
            theirs = await socket.ask(message)
            absent = await socket.ask(
                {**message, **{k: "xyz_doesnotexist0000" for k in message if k.endswith("_id")}}
            )
            assert theirs["type"] == absent["type"] == "error"
            assert theirs["code"] == absent["code"] == "not_found", (theirs, absent)
        assert await socket.ask({"type": "ping"}) == {"type": "pong"}


# ------------------------------------------------------------------ run subscriptions


async def test_replay_then_live_without_gap_or_duplicate_across_a_reconnect(
    app: FastAPI, client, providers, monkeypatch
) -> None:
    # The second socket follows a waiting run; the approval resumes it in this process, which
    # must wake the follower through the bus, not the (here: hour-long) waiting-run poll.
    monkeypatch.setattr(event_log, "WAITING_POLL_S", 3600.0)
    entered, release = blocking_model(providers, "thinker", "deep thoughts")
    workflow_id = await create_workflow(client, thinking_then_gate("thinker"))
    run_id = await start(client, workflow_id, {"topic": "bees"})
    token = await token_of(client)

    async with AsgiSocket(app, query=f"token={token}") as first:
        ack = await first.ask({"type": "subscribe", "run_id": run_id, "id": "a"})
        assert ack == {"type": "subscribed", "run_id": run_id, "after_seq": 0, "id": "a"}
        seen = await first.until(
            lambda f: (
                f["type"] == "event"
                and f["event"] == "node_started"
                and f["data"]["node_id"] == "think"
            )
        )
    await asyncio.wait_for(entered.wait(), WAIT_S)
    # While nobody listens: the model answers and the run pauses at the approval node.
    release.set()
    await wait_status(client, run_id, "waiting")

    async with AsgiSocket(app, query=f"token={token}") as second:
        after = seen[-1]["seq"]
        ack = await second.ask({"type": "subscribe", "run_id": run_id, "after_seq": after})
        assert ack == {"type": "subscribed", "run_id": run_id, "after_seq": after}
        replayed = await second.until(is_event("node_waiting"))
        decision = await client.post(
            f"/api/v1/executions/{run_id}/approvals/ask", json={"approved": True}
        )
        assert decision.status_code == 202, decision.text
        live = await second.until(is_event("run_completed"))
        assert await second.receive() == {
            "type": "unsubscribed",
            "run_id": run_id,
            "reason": "completed",
        }

    frames = seen + replayed + live
    stored = await stored_events(client, run_id)
    assert [f["seq"] for f in frames] == list(range(1, len(stored) + 1))
    assert [(f["seq"], f["event"], f["data"]) for f in frames] == [
        (e["seq"], e["type"], e["data"]) for e in stored
    ]
    assert all(set(f) == {"type", "run_id", "seq", "event", "data", "ts"} for f in frames)
    names = [f["event"] for f in frames]
    for name in ("workflow_status", "node_started", "token", "node_completed", "node_waiting"):
        assert name in names
    assert frames[-1]["data"]["status"] == "succeeded"
    assert frames[-1]["data"]["outputs"]["result"] is not None


async def test_a_finished_run_replays_and_the_subscription_ends(app: FastAPI, client) -> None:
    workflow_id = await create_workflow(client, GATE)
    run_id = await start(client, workflow_id, {})
    await wait_status(client, run_id, "waiting")
    stop = await client.post(f"/api/v1/executions/{run_id}/stop")
    assert stop.status_code == 200, stop.text
    stored = await stored_events(client, run_id)
    async with AsgiSocket(app, query=f"token={await token_of(client)}") as socket:
        for after in (0, 2, len(stored) - 1, len(stored)):
            await socket.ask({"type": "subscribe", "run_id": run_id, "after_seq": after})
            frames = await socket.until(lambda f: f["type"] == "unsubscribed")
            assert [f["seq"] for f in frames[:-1]] == list(range(after + 1, len(stored) + 1))
            assert frames[-1]["reason"] == "completed"


# ------------------------------------------------------------------ workflow subscriptions


async def test_a_workflow_subscription_streams_new_runs_the_caller_may_see(
    app: FastAPI, client, make_user
) -> None:
    alice = await make_user("alice@nexus.test", role="developer")
    workflow_id = await create_workflow(client, {**GATE, "visibility": "workspace"})
    admins_run = await start(client, workflow_id, {})  # active, but not alice's to see
    await wait_status(client, admins_run, "waiting")

    async with AsgiSocket(app, query=f"token={await token_of(alice)}") as socket:
        ack = await socket.ask({"type": "subscribe", "workflow_id": workflow_id})
        assert ack == {"type": "subscribed", "workflow_id": workflow_id}
        run_id = await start(alice, workflow_id, {"n": 1})
        frames = await socket.until(is_event("node_waiting", run_id))
        decision = await alice.post(
            f"/api/v1/executions/{run_id}/approvals/ask", json={"approved": True}
        )
        assert decision.status_code == 202, decision.text
        frames += await socket.until(is_event("run_completed", run_id))
        assert {f["run_id"] for f in frames} == {run_id}
        assert {f["workflow_id"] for f in frames} == {workflow_id}
        assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))

        bye = await socket.ask({"type": "unsubscribe", "workflow_id": workflow_id, "id": 2})
        assert bye == {"type": "unsubscribed", "workflow_id": workflow_id, "id": 2}
        again = await socket.ask({"type": "unsubscribe", "workflow_id": workflow_id})
        assert again["code"] == "not_subscribed"


async def test_a_workflow_subscription_includes_runs_active_when_it_began(
    app: FastAPI, client
) -> None:
    workflow_id = await create_workflow(client, GATE)
    run_id = await start(client, workflow_id, {})
    await wait_status(client, run_id, "waiting")
    async with AsgiSocket(app, query=f"token={await token_of(client)}") as socket:
        await socket.ask({"type": "subscribe", "workflow_id": workflow_id})
        frames = await socket.until(is_event("node_waiting", run_id))
        assert frames[0]["seq"] == 1


# ------------------------------------------------------------------ execute_node


async def test_execute_node_runs_one_node_of_the_draft(app: FastAPI, client) -> None:
    workflow = {
        "name": "shout",
        "nodes": [
            {"id": "start", "type": "input"},
            {
                "id": "shout",
                "type": "transform",
                "properties": {
                    "template": "{{ input.input | upper }} {{ inputs.suffix }}",
                    "output_type": "text",
                },
            },
            {"id": "out", "type": "output", "properties": {"name": "result"}},
        ],
        "edges": [edge(0, "start", "output", "shout"), edge(1, "shout", "output", "out")],
    }
    workflow_id = await create_workflow(client, workflow)
    async with AsgiSocket(app, query=f"token={await token_of(client)}") as socket:
        message = {
            "type": "execute_node",
            "id": "t1",
            "workflow_id": workflow_id,
            "node_id": "shout",
            "input_data": {"input": "hello", "suffix": "!"},
        }
        frames = (
            await socket.ask(message),
            *await socket.until(lambda f: f["type"] == "node_result"),
        )
    result = frames[-1]
    assert result["status"] == "completed", result
    assert result["output"] == {"output": "HELLO !"}
    assert result["node_id"] == "shout" and result["id"] == "t1"
    assert isinstance(result["execution_time_ms"], float)
    events = [f for f in frames[:-1] if f["type"] == "event"]
    assert {f["run_id"] for f in events} == {result["run_id"]}
    node_events = [f["event"] for f in events if "node_id" in f["data"]]
    assert node_events == ["node_started", "node_completed"]  # the feeders stay hidden
    assert events[-1]["event"] == "run_completed"
    # The test run is the caller's, and not part of the workflow's run history.
    run = await client.get(f"/api/v1/executions/{result['run_id']}")
    assert run.status_code == 200 and run.json()["workflow_id"] is None
    listed = await client.get("/api/v1/runs", params={"status": "succeeded"})
    assert result["run_id"] in {r["id"] for r in listed.json()["items"]}


async def test_execute_node_streams_tokens_of_an_llm_node(app: FastAPI, client, providers) -> None:
    providers.scripted("writer").enqueue([assistant_message("a short poem")])
    workflow_id = await create_workflow(client, thinking_then_gate("writer"))
    async with AsgiSocket(app, query=f"token={await token_of(client)}") as socket:
        await socket.send(
            {
                "type": "execute_node",
                "workflow_id": workflow_id,
                "node_id": "think",
                "input_data": {"input": "ignored", "topic": "poems"},
            }
        )
        frames = await socket.until(lambda f: f["type"] == "node_result")
    assert frames[-1]["status"] == "completed"
    assert frames[-1]["output"] == {"output": "a short poem"}
    deltas = [f["data"]["delta"] for f in frames if f.get("event") == "token"]
    assert "".join(deltas) == "a short poem"


async def test_execute_node_reports_failure_and_waiting(app: FastAPI, client) -> None:
    workflow = {
        "name": "parse",
        "nodes": [
            {"id": "start", "type": "input"},
            {"id": "parse", "type": "transform", "properties": {"template": "{{ input.input }}"}},
            {"id": "ask", "type": "approval"},
        ],
        "edges": [edge(0, "start", "output", "parse"), edge(1, "parse", "output", "ask")],
    }
    workflow_id = await create_workflow(client, workflow)
    async with AsgiSocket(app, query=f"token={await token_of(client)}") as socket:
        base = {"type": "execute_node", "workflow_id": workflow_id}
        await socket.send({**base, "node_id": "parse", "input_data": {"input": "{broken"}})
        failed = (await socket.until(lambda f: f["type"] == "node_result"))[-1]
        assert failed["status"] == "failed"
        assert failed["error"]["code"] == "invalid_input"
        assert "output" not in failed

        await socket.send({**base, "node_id": "ask", "input_data": {"input": 1}})
        waited = (await socket.until(lambda f: f["type"] == "node_result"))[-1]
        assert waited["status"] == "waiting"
        assert "waiting" in waited
        # Nobody decides on a test: its run is closed.
        run = await client.get(f"/api/v1/runs/{waited['run_id']}")
        assert run.json()["status"] == "cancelled"

        missing = await socket.ask({**base, "node_id": "nope", "id": 5})
        assert (missing["type"], missing["code"], missing["id"]) == ("error", "not_found", 5)


async def test_a_node_that_reads_another_node_cannot_run_alone(app: FastAPI, client) -> None:
    workflow = {
        "name": "reads",
        "nodes": [
            {"id": "start", "type": "input"},
            {
                "id": "echo",
                "type": "transform",
                "properties": {"template": "{{ nodes.start.output }}", "output_type": "text"},
            },
        ],
        "edges": [edge(0, "start", "output", "echo")],
    }
    workflow_id = await create_workflow(client, workflow)
    async with AsgiSocket(app, query=f"token={await token_of(client)}") as socket:
        answer = await socket.ask(
            {"type": "execute_node", "workflow_id": workflow_id, "node_id": "echo"}
        )
        assert (answer["type"], answer["code"]) == ("error", "invalid_input"), answer
        assert any(d["node"] == "echo" for d in answer["details"]), answer
        assert await socket.ask({"type": "ping"}) == {"type": "pong"}


async def test_viewers_test_nodes_of_shared_workflows_only(app: FastAPI, client, make_user) -> None:
    """Viewers run what they may read (issue 3), a single node included; private is unseen."""
    shared = await create_workflow(client, {**GATE, "visibility": "workspace"})
    private = await create_workflow(client, {**GATE, "name": "mine", "visibility": "private"})
    viewer = await make_user("viewer@nexus.test", role="viewer")
    async with AsgiSocket(app, query=f"token={await token_of(viewer)}") as socket:
        await socket.send({"type": "execute_node", "workflow_id": shared, "node_id": "ask"})
        frames = await socket.until(lambda f: f["type"] in ("node_result", "error"))
        assert frames[-1]["type"] == "node_result", frames[-1]
        assert frames[-1]["status"] == "waiting", frames[-1]
        answer = await socket.ask(
            {"type": "execute_node", "workflow_id": private, "node_id": "ask"}
        )
        assert (answer["type"], answer["code"]) == ("error", "not_found")


# ------------------------------------------------------------------ bad messages


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_message"),
        ('{"no": "type"}', "unknown_type"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "subscribe"}', "invalid_input"),
        ('{"type": "subscribe", "run_id": "r", "workflow_id": "w"}', "invalid_input"),
        ('{"type": "subscribe", "workflow_id": "w", "after_seq": 3}', "invalid_input"),
        ('{"type": "subscribe", "run_id": "r", "after_seq": -1}', "invalid_input"),
        ('{"type": "ping", "extra": 1}', "invalid_input"),
        ('{"type": "execute_node", "workflow_id": "w"}', "invalid_input"),
        ('{"type": "execute_node", "workflow_id": "w", "node_id": "n", "input_data": 3}',
         "invalid_input"),
        ('{"type": "unsubscribe", "run_id": "never"}', "not_subscribed"),
        ('{"type": "subscribe", "run_id": "run_missing"}', "not_found"),
    ],
)  # fmt: skip
async def test_bad_messages_get_an_error_and_the_socket_stays_open(
    app: FastAPI, client, message: str, code: str
) -> None:
    async with AsgiSocket(app, query=f"token={await token_of(client)}") as socket:
        answer = await socket.ask(message)
        assert answer["type"] == "error" and answer["code"] == code, answer
        assert answer["message"]
        assert await socket.ask({"type": "ping"}) == {"type": "pong"}


async def test_binary_frames_and_double_subscriptions_are_refused(app: FastAPI, client) -> None:
    workflow_id = await create_workflow(client, GATE)
    async with AsgiSocket(app, query=f"token={await token_of(client)}") as socket:
        await socket.send_bytes(b"\x00\x01")
        assert (await socket.receive())["code"] == "invalid_message"
        first = await socket.ask({"type": "subscribe", "workflow_id": workflow_id})
        assert first["type"] == "subscribed"
        second = await socket.ask({"type": "subscribe", "workflow_id": workflow_id, "id": "x"})
        assert (second["code"], second["id"]) == ("already_subscribed", "x")
        assert await socket.ask({"type": "ping"}) == {"type": "pong"}


# ------------------------------------------------------------------ over a real server


@pytest.fixture
async def server_url(app: FastAPI) -> Any:
    """The app (already started) served by uvicorn on a free local port, in this loop."""
    import socket as sockets

    import uvicorn

    listener = sockets.socket(sockets.AF_INET, sockets.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[listener]))
    for _ in range(1000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT_S)
        listener.close()


async def test_over_a_real_server(server_url: str, client, anon) -> None:
    """The handshake refusals and close codes as a real client sees them, and a live stream."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    url = f"ws://{server_url}/ws"
    # No credentials: accepted, then closed with 4401 and a reason.
    async with connect(url, proxy=None) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    # A session cookie from another site's page: the handshake itself is refused.
    login = await anon.post(
        "/api/v1/auth/login", json={"email": "admin@nexus.test", "password": PASSWORD}
    )
    cookie = {"Cookie": f"nexus_session={login.cookies['nexus_session']}"}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            url, proxy=None, origin="https://evil.example", additional_headers=cookie
        ):
            pass
    assert refused.value.response.status_code == 403
    # The same cookie from this server's own page works; so does ?token=.
    origin = f"http://{server_url}"
    async with connect(url, proxy=None, origin=origin, additional_headers=cookie) as socket:
        await socket.send(json.dumps({"type": "ping"}))
        assert json.loads(await socket.recv()) == {"type": "pong"}

    workflow_id = await create_workflow(client, GATE)
    token = await token_of(client)
    async with connect(f"{url}?token={token}", proxy=None) as socket:
        await socket.send(json.dumps({"type": "subscribe", "workflow_id": workflow_id}))
        assert json.loads(await socket.recv())["type"] == "subscribed"
        run_id = await start(client, workflow_id, {})
        frames = []
        while not frames or frames[-1].get("event") != "node_waiting":
            frames.append(json.loads(await asyncio.wait_for(socket.recv(), WAIT_S)))
    assert {f["run_id"] for f in frames} == {run_id}
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
