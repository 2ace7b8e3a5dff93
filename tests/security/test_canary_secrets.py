"""Canary secrets: unique fake provider keys are stored at every scope, used by runs that fail
(the provider is a closed local port) and by key checks that fail (rejected, unreachable), and
then searched for everywhere a secret could leak. The plaintext must appear nowhere: not in a
log record, run event (listed or streamed), trace span, HTTP answer, audit entry, database cell
(``credentials.ciphertext`` included), nor any byte of the files in NEXUS_HOME — in plain,
hex or base64 form.
"""

from __future__ import annotations

import base64
import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from nexus.providers.registry import ProviderRegistry
from nexus.settings import Settings
from nexus.testing.scripted_providers import ScriptedProviders

CLOSED_PORT = "http://127.0.0.1:9/v1"  # discard port: nothing listens, connecting fails at once


def canary(kind: str) -> str:
    return f"sk-canary-{kind}-{uuid.uuid4().hex}"


CANARIES = {
    kind: canary(kind)
    for kind in (
        "openai-user",
        "openai-workspace",
        "openai-instance",
        "anthropic-user",
        "anthropic-workspace",
        "anthropic-instance",
        "rejected",
        "unverified",
    )
}


def forms(secret: str) -> list[bytes]:
    """The plaintext as bytes, hex (both cases) and base64 at every alignment (std and url)."""
    raw = secret.encode()
    out = [raw, raw.hex().encode(), raw.hex().upper().encode()]
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * shift + raw)
            # Drop the characters that depend on the neighbouring bytes.
            out.append(encoded[4:-4])
    return out


def leaks(haystack: str | bytes, where: str) -> list[str]:
    data = haystack.encode("utf-8", "backslashreplace") if isinstance(haystack, str) else haystack
    return [
        f"{kind} in {where}"
        for kind, secret in CANARIES.items()
        if any(form in data for form in forms(secret))
    ]


class KeyCheck:
    """The provider's ``GET /models`` for key checks: the rejected canary gets 401, the
    unverified one finds the provider unreachable, every other key is accepted."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        presented = request.headers.get("authorization", "") + request.headers.get("x-api-key", "")
        if CANARIES["rejected"] in presented:
            return httpx.Response(401, json={"error": {"message": "bad key"}})
        if CANARIES["unverified"] in presented:
            raise httpx.ConnectError("unreachable", request=request)
        return httpx.Response(200, json={"data": []})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path,
        openai_base_url=CLOSED_PORT,
        anthropic_base_url=CLOSED_PORT + "/",
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
async def app(migrated: Settings, app_factory) -> AsyncIterator[FastAPI]:
    providers = ScriptedProviders(ProviderRegistry(migrated))  # openai/anthropic are real
    async with app_factory(migrated, providers, httpx.MockTransport(KeyCheck())) as application:
        yield application


class Recorder:
    """Every HTTP answer the test receives, body included."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    async def __call__(self, response: httpx.Response) -> None:
        await response.aread()
        self.bodies.append(f"{response.status_code} {dict(response.headers)} {response.text}")


async def _post_key(
    http: httpx.AsyncClient, provider: str, kind: str, scope: str
) -> httpx.Response:
    body = {"provider": provider, "name": kind, "secret": CANARIES[kind], "scope": scope}
    return await http.post("/api/v1/users/api-keys", json=body)


async def test_canary_keys_leak_nowhere(
    app: FastAPI, accounts, connect, migrated: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    quiet = [  # loggers that do not propagate to the root: listen to them directly
        logger
        for name in list(logging.root.manager.loggerDict)
        if not (logger := logging.getLogger(name)).propagate
    ]
    for logger in quiet:
        logger.addHandler(caplog.handler)
    try:
        await _exercise_and_scan(app, accounts, connect, migrated, caplog)
    finally:
        for logger in quiet:
            logger.removeHandler(caplog.handler)


async def _exercise_and_scan(
    app: FastAPI, accounts, connect, migrated: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    admin = await accounts.signup("admin@nexus.test", "correct horse battery staple")
    dev = await accounts.create_user("dev@nexus.test", "correct horse battery staple", "developer")
    _, admin_token = await accounts.create_token(admin.id, "t")
    _, dev_token = await accounts.create_token(dev.id, "t")
    hooks = {"response": [recorder]}
    async with (
        connect(app, admin_token, event_hooks=hooks) as root,
        connect(app, dev_token, event_hooks=hooks) as http,
    ):
        for provider in ("openai", "anthropic"):
            for scope, caller in (("user", http), ("workspace", root), ("instance", root)):
                stored = await _post_key(caller, provider, f"{provider}-{scope}", scope)
                assert stored.status_code == 201, stored.text
                assert stored.json()["verified"] is True
        rejected = await _post_key(http, "openai", "rejected", "user")
        assert rejected.status_code == 422
        unverified = await _post_key(http, "openai", "unverified", "user")
        assert (unverified.status_code, unverified.json()["verified"]) == (201, False)

        runs: list[tuple[httpx.AsyncClient, str]] = []
        for model in ("openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5"):
            name = model.split(":")[0]
            created = await http.post("/api/v1/agents", json={"name": name, "model": model})
            assert created.status_code == 201, created.text
            agent_id = created.json()["id"]
            for caller in (http, root):  # the user's key, then the workspace's
                ran = await caller.post(f"/api/v1/agents/{agent_id}/run", json={"input": "hi"})
                assert ran.status_code == 200, ran.text
                # The provider was really called (with the key) and could not be reached.
                assert (ran.json()["status"], ran.json()["error"]["code"]) == (
                    "failed",
                    "run_failed",
                )
                assert "Connection" in ran.json()["error"]["message"]
                runs.append((caller, ran.json()["run_id"]))
            streamed = await http.post(
                f"/api/v1/agents/{agent_id}/run", json={"input": "hi", "stream": True}
            )
            assert "run_completed" in streamed.text
        # Every surface that shows runs, keys and the audit trail, read back in full.
        for owner, run_id in runs:
            for suffix in ("", "/events/list", "/spans", "/events"):
                assert (await owner.get(f"/api/v1/runs/{run_id}{suffix}")).status_code == 200
        for page in range(1, 20):
            audit = (await root.get("/api/v1/audit", params={"page": page, "limit": 100})).json()
            if not audit["items"]:
                break
        listed = (await http.get("/api/v1/users/api-keys")).json()
        await root.get("/api/v1/runs")
        await http.get("/api/v1/runs")

    # The listing shows masks only.
    assert {k["name"] for k in listed} >= {"openai-user", "openai-workspace", "openai-instance"}
    for key in listed:
        secret = CANARIES[key["name"]]
        assert key["masked"] == f"{secret[:4]}…{secret[-4:]}"
    assert "rejected" not in {k["name"] for k in listed}

    found: list[str] = []
    for record in caplog.records:
        text = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        found += leaks(text, f"log record {record.name}")
    found += leaks(caplog.text, "formatted logs")
    for n, body in enumerate(recorder.bodies):
        found += leaks(body, f"HTTP answer #{n}")
    found += scan_database(migrated)
    for path in sorted(migrated.home.rglob("*")):
        if path.is_file():
            found += leaks(path.read_bytes(), f"file {path.name}")
    assert found == []
    scanned = {
        "log records": len(caplog.records),
        "http answers": len(recorder.bodies),
        "runs": len(runs) + 2,
        "database tables": len(tables(migrated)),
        "files": sum(1 for p in migrated.home.rglob("*") if p.is_file()),
    }
    print(f"canary scan: {len(CANARIES)} canaries, zero hits in {scanned}")
    # The scan looked at something: failed runs left events, spans and audit entries.
    kinds = {body.split(" ", 1)[0] for body in recorder.bodies}
    assert {"200", "201", "422"} <= kinds
    assert scanned["log records"] > 0


def tables(settings: Settings) -> list[str]:
    with sqlite3.connect(settings.home / "nexus.db") as db:
        return [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]


def scan_database(settings: Settings) -> list[str]:
    """Every cell of every table; the credential ciphertext is checked like any other."""
    found: list[str] = []
    seen: dict[str, int] = {}
    with sqlite3.connect(settings.home / "nexus.db") as db:
        for table in tables(settings):
            rows = db.execute(
                f'SELECT * FROM "{table}"'
            ).fetchall()  # table names from sqlite_master
            seen[table] = len(rows)
            for row in rows:
                for value in row:
                    if value is None:
                        continue
                    cell: Any = value if isinstance(value, bytes) else str(value)
                    found += leaks(cell, f"table {table}")
    for table in ("credentials", "run_events", "trace_spans", "audit_log", "runs"):
        assert seen.get(table, 0) > 0, f"nothing in {table}: the scan proves nothing there"
    return found
