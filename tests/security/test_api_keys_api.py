"""Provider API keys over HTTP: the check against the provider, masking, who manages which
scope, which key a run gets (user → workspace → instance), and master-key rotation.

The provider's ``GET /models`` is a ``MockTransport`` (``provider_api``) and ``openai:*`` models
are scripted by ``KeyRecordingProviders``, which notes the key each model was built with. Keys
are compared by label (``"user"``, ``"workspace"`` …), so no failure message prints a key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from agents import Model
from agents.testing import assistant_message
from fastapi import FastAPI

from nexus.providers.registry import ProviderRegistry
from nexus.security.keyring import Keyring
from nexus.security.vault import Vault
from nexus.settings import Settings
from nexus.store.tables import CredentialRow
from nexus.testing.scripted_providers import ScriptedProviders

MODEL = "openai:gpt-4.1-mini"
SECRETS = {
    "user": "sk-user-key-0123456789-AAAA",
    "user2": "sk-user2-key-0123456789-BBBB",
    "workspace": "sk-workspace-key-0123456789-CCCC",
    "other workspace": "sk-other-ws-key-0123456789-DDDD",
    "instance": "sk-instance-key-0123456789-EEEE",
}
LABELS = {secret: label for label, secret in SECRETS.items()}


class KeyedModel(Model):
    """The scripted model, noting the label of the key it was built with at every call (a
    compiled agent, and so its model, is reused across runs: the call is what counts)."""

    def __init__(self, inner: Model, label: str, seen: list[str]) -> None:
        self.inner, self.label, self.seen = inner, label, seen

    async def get_response(self, *args: Any, **kwargs: Any) -> Any:
        self.seen.append(self.label)
        return await self.inner.get_response(*args, **kwargs)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        self.seen.append(self.label)
        return self.inner.stream_response(*args, **kwargs)


class KeyRecordingProviders(ScriptedProviders):
    """``openai:<name>`` is the scripted model ``<name>``; each call notes the key's label."""

    def __init__(self, real: ProviderRegistry) -> None:
        super().__init__(real)
        self.keys_seen: list[str] = []

    def get_model(self, model_id: str, *, api_key: str | None = None) -> Model:
        provider, _, name = model_id.partition(":")
        if provider != "openai" or api_key is None:  # no key: the real "not configured" error
            return super().get_model(model_id, api_key=api_key)
        self.real.check_model(model_id)
        label = LABELS.get(api_key, "unknown")
        return KeyedModel(self.scripted(name), label, self.keys_seen)


class ProviderApi:
    """The provider's ``GET /models``: answers ``status``, or is unreachable when None."""

    def __init__(self) -> None:
        self.status: int | None = 200
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.status is None:
            raise httpx.ConnectError("unreachable", request=request)
        return httpx.Response(self.status, json={"data": []})


@pytest.fixture
def providers(settings: Settings) -> KeyRecordingProviders:
    return KeyRecordingProviders(ProviderRegistry(settings))


@pytest.fixture
def provider_api() -> ProviderApi:
    return ProviderApi()


@pytest.fixture
async def app(
    migrated: Settings, providers: KeyRecordingProviders, provider_api: ProviderApi, app_factory
) -> AsyncIterator[FastAPI]:
    async with app_factory(migrated, providers, httpx.MockTransport(provider_api)) as application:
        yield application


async def add_key(
    http: httpx.AsyncClient, label: str, scope: str = "user", status: int = 201, **extra: Any
) -> dict[str, Any]:
    body = {"provider": "openai", "name": label, "secret": SECRETS[label], "scope": scope, **extra}
    response = await http.post("/api/v1/users/api-keys", json=body)
    assert response.status_code == status, response.text
    return response.json()


async def count_credentials(app: FastAPI) -> int:
    async with app.state.services.db.sessions() as session:
        return await session.scalar(sa.select(sa.func.count()).select_from(CredentialRow))


async def test_a_key_the_provider_accepts_is_saved_verified(client, provider_api) -> None:
    stored = await add_key(client, "user")
    assert provider_api.calls == 1
    assert stored["verified"] is True
    assert stored["masked"] == "sk-u…AAAA"
    assert SECRETS["user"] not in str(stored)


async def test_a_key_the_provider_rejects_is_refused_and_not_saved(
    client, app: FastAPI, provider_api
) -> None:
    for status in (401, 403):
        provider_api.status = status
        refused = await add_key(client, "user", status=422)
        assert refused["error"]["code"] == "invalid_input"
        assert refused["error"]["field"] == "secret"
        assert SECRETS["user"] not in str(refused)
    assert (await client.get("/api/v1/users/api-keys")).json() == []
    assert await count_credentials(app) == 0


@pytest.mark.parametrize("status", [None, 500, 429])
async def test_when_the_provider_cannot_tell_the_key_is_saved_unverified(
    client, provider_api, status: int | None
) -> None:
    provider_api.status = status
    stored = await add_key(client, "user")
    assert stored["verified"] is False
    listed = (await client.get("/api/v1/users/api-keys")).json()
    assert [(k["id"], k["verified"]) for k in listed] == [(stored["id"], False)]


async def test_listing_shows_masked_keys_only(client, app: FastAPI) -> None:
    await add_key(client, "user")
    await add_key(client, "instance", scope="instance")
    short = await client.post(
        "/api/v1/users/api-keys",
        json={"provider": "anthropic", "name": "short", "secret": "abcdefghij"},
    )
    assert short.status_code == 201
    listed = await client.get("/api/v1/users/api-keys")
    text = listed.text
    for secret in (SECRETS["user"], SECRETS["instance"], "abcdefghij"):
        assert secret not in text
    masks = {k["name"]: k["masked"] for k in listed.json()}
    assert masks == {
        "user": SECRETS["user"][:4] + "…" + SECRETS["user"][-4:],
        "instance": SECRETS["instance"][:4] + "…" + SECRETS["instance"][-4:],
        "short": "…ij",
    }
    assert all(set(k) >= {"id", "scope", "masked"} and "secret" not in k for k in listed.json())


async def test_deleting_keys_own_yes_others_not_found(client, make_user) -> None:
    dev = await make_user("dev@nexus.test")
    dev2 = await make_user("dev2@nexus.test")
    mine = await add_key(dev, "user")
    theirs = await add_key(dev2, "user2")
    shared = await add_key(client, "workspace", scope="workspace")
    instance = await add_key(client, "instance", scope="instance")
    for key in (theirs, shared, instance):
        refused = await dev.delete(f"/api/v1/users/api-keys/{key['id']}")
        assert (refused.status_code, refused.json()["error"]["code"]) == (404, "not_found")
    # The same answer as for a key that never existed.
    absent = await dev.delete("/api/v1/users/api-keys/cred_doesnotexist")
    assert absent.status_code == 404
    assert (await dev.delete(f"/api/v1/users/api-keys/{mine['id']}")).status_code == 204
    assert (await dev.delete(f"/api/v1/users/api-keys/{mine['id']}")).status_code == 404
    listed = {k["id"] for k in (await dev2.get("/api/v1/users/api-keys")).json()}
    assert listed == {theirs["id"], shared["id"], instance["id"]}
    # A user's own key is theirs alone, even against the instance admin.
    assert (await client.delete(f"/api/v1/users/api-keys/{theirs['id']}")).status_code == 404
    assert (await client.delete(f"/api/v1/users/api-keys/{shared['id']}")).status_code == 204


async def test_who_adds_workspace_and_instance_keys(client, make_user, app: FastAPI) -> None:
    dev = await make_user("dev@nexus.test")
    viewer = await make_user("viewer@nexus.test", role="viewer")
    team_admin = await make_user("boss@nexus.test", role="admin", workspace="Team B")
    for http in (dev, viewer):
        assert (await add_key(http, "workspace", "workspace", 403))["error"]["code"] == "forbidden"
        assert (await add_key(http, "instance", "instance", 403))["error"]["code"] == "forbidden"
    # A workspace admin manages their workspace's key, not the instance's.
    await add_key(team_admin, "other workspace", "workspace")
    assert (await add_key(team_admin, "instance", "instance", 403))["error"]["code"] == "forbidden"
    assert await count_credentials(app) == 1
    # The instance admin does both.
    await add_key(client, "workspace", "workspace")
    await add_key(client, "instance", "instance")
    # Everyone may add their own.
    await add_key(viewer, "user")
    assert await count_credentials(app) == 4
    # Team B's workspace key is not listed in workspace A.
    names = {k["name"] for k in (await dev.get("/api/v1/users/api-keys")).json()}
    assert names == {"workspace", "instance"}


async def _run_as(http: httpx.AsyncClient, providers: KeyRecordingProviders, agent_id: str) -> str:
    """Run the agent as ``http``; the label of the key its model was built with."""
    providers.scripted("gpt-4.1-mini").enqueue([assistant_message("ok")])
    seen_before = len(providers.keys_seen)
    ran = await http.post(f"/api/v1/agents/{agent_id}/run", json={"input": "hi"})
    assert ran.status_code == 200, ran.text
    assert ran.json()["status"] == "succeeded"
    assert len(providers.keys_seen) == seen_before + 1
    return providers.keys_seen[-1]


async def test_a_run_uses_the_users_key_over_the_workspaces_over_the_instances(
    client, make_user, providers: KeyRecordingProviders
) -> None:
    dev = await make_user("dev@nexus.test")
    dev2 = await make_user("dev2@nexus.test")
    outsider = await make_user("out@nexus.test", workspace="Team B")
    created = await dev.post("/api/v1/agents", json={"name": "keyed", "model": MODEL})
    assert created.status_code == 201, created.text
    agent_id = created.json()["id"]

    no_key = await dev.post(f"/api/v1/agents/{agent_id}/run", json={"input": "hi"})
    assert no_key.status_code == 400
    assert no_key.json()["error"]["code"] == "provider_not_configured"

    await add_key(client, "instance", "instance")
    assert await _run_as(dev, providers, agent_id) == "instance"
    await add_key(outsider, "other workspace", "workspace", status=403)  # a developer of B
    await add_key(client, "workspace", "workspace")
    assert await _run_as(dev, providers, agent_id) == "workspace"
    mine = await add_key(dev, "user")
    assert await _run_as(dev, providers, agent_id) == "user"
    # dev's key is dev's alone: the others in the workspace still use the workspace's.
    assert await _run_as(dev2, providers, agent_id) == "workspace"
    assert await _run_as(client, providers, agent_id) == "workspace"
    assert (await dev.delete(f"/api/v1/users/api-keys/{mine['id']}")).status_code == 204
    assert await _run_as(dev, providers, agent_id) == "workspace"


async def test_rotating_the_master_key_keeps_every_secret_decryptable(
    client, make_user, app: FastAPI, migrated: Settings, providers: KeyRecordingProviders
) -> None:
    dev = await make_user("dev@nexus.test")
    team_admin = await make_user("boss@nexus.test", role="admin", workspace="Team B")
    await add_key(dev, "user")
    await add_key(client, "workspace", "workspace")
    await add_key(team_admin, "other workspace", "workspace")
    await add_key(client, "instance", "instance")
    vault: Vault = app.state.services.vault
    dev_me = (await dev.get("/api/v1/auth/me")).json()
    boss_me = (await team_admin.get("/api/v1/auth/me")).json()
    admin_me = (await client.get("/api/v1/auth/me")).json()
    callers = {
        "user": (dev_me["user"]["id"], dev_me["workspace_id"]),
        "workspace": (admin_me["user"]["id"], admin_me["workspace_id"]),
        "other workspace": (boss_me["user"]["id"], boss_me["workspace_id"]),
        "instance": (None, None),
    }

    async def resolved(with_vault: Vault) -> dict[str, str]:
        out = {}
        for label, (user_id, workspace_id) in callers.items():
            secret = await with_vault.resolve("openai", user_id=user_id, workspace_id=workspace_id)
            out[label] = LABELS.get(secret or "", "missing")
        return out

    expected = {label: label for label in callers}
    assert await resolved(vault) == expected
    old_ids = vault.keyring.ids

    rotated = Keyring.rotate_file(migrated.home)
    result = await vault.rotate_master(rotated)
    assert result.master_key_id == rotated.current.id != old_ids[0]
    assert (result.rewrapped, result.unchanged) == (3, 0)  # instance, workspace A, workspace B
    assert await resolved(vault) == expected
    # Another process starting now reads the rotated file and decrypts everything.
    assert await resolved(Vault(app.state.services.db, Keyring.load(migrated.home, {}))) == expected
    # Every data key is under the new master key: the old one is no longer needed at all.
    only_new = Keyring(current=rotated.current)
    assert await resolved(Vault(app.state.services.db, only_new)) == expected
    # And runs still get their keys.
    created = await dev.post("/api/v1/agents", json={"name": "keyed", "model": MODEL})
    assert await _run_as(dev, providers, created.json()["id"]) == "user"
    # A second rotation moves everything again.
    again = await vault.rotate_master(Keyring.rotate_file(migrated.home))
    assert (again.rewrapped, again.unchanged) == (3, 0)
    assert await resolved(vault) == expected
