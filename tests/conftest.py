"""Fixtures shared by every test.

A temporary data directory with a migrated SQLite file; ``providers`` whose ``test:<name>``
models are scripted; and an app with HTTP clients: ``client`` is signed in with an API token of
the instance's first user (an administrator), ``anon`` sends no credentials, ``make_user`` adds
users with a role and returns their client, ``app_factory`` builds another app for one test and
``connect`` opens a client on any app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from nexus.api.app import create_app
from nexus.observability.tracing import install as install_tracing
from nexus.providers.registry import ProviderRegistry
from nexus.security.accounts import Accounts
from nexus.settings import Settings
from nexus.store.db import Database
from nexus.store.db import connect as connect_db
from nexus.store.migrate import upgrade
from nexus.testing.scripted_providers import ScriptedProviders


@pytest.fixture(autouse=True, scope="session")
def _no_openai_tracing_export() -> None:
    """Spans go to our collector: the SDK's exporter to OpenAI is never installed."""
    install_tracing()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def migrated(settings: Settings) -> Settings:
    upgrade(settings.resolved_database_url)
    return settings


@pytest.fixture
async def db(migrated: Settings) -> AsyncIterator[Database]:
    """A connection to the migrated database of this test (no app, no services)."""
    database = connect_db(migrated.resolved_database_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def providers(settings: Settings) -> ScriptedProviders:
    return ScriptedProviders(ProviderRegistry(settings))


@pytest.fixture
async def services(migrated: Settings, providers: ScriptedProviders) -> AsyncIterator[object]:
    from nexus.worker.services import build_services

    built = build_services(migrated, providers)  # type: ignore[arg-type]
    try:
        yield built
    finally:
        await built.db.dispose()


ADMIN_EMAIL = "admin@nexus.test"
PASSWORD = "correct horse battery staple"
BASE_URL = "http://nexus.test"


def unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("no network in tests", request=request)


# argon2id at its real cost (~0.1 s a hash) would make each table row of these tests take
# seconds; the logic under test (lock-out, dummy verification, rehash) is the same at any cost.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@asynccontextmanager
async def running_app(
    settings: Settings,
    providers: Any,
    key_transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[FastAPI]:
    transport = key_transport if key_transport is not None else httpx.MockTransport(unreachable)
    application = create_app(settings, providers=providers, key_transport=transport)
    async with application.router.lifespan_context(application):
        application.state.accounts = Accounts(
            application.state.services.db,
            session_ttl=timedelta(hours=settings.session_ttl_hours),
            hasher=FAST_HASHER,
        )
        yield application


def http_client(
    app: FastAPI, token: str | None = None, *, ip: str = "127.0.0.1", **kwargs: Any
) -> httpx.AsyncClient:
    """A client of ``app`` calling from ``ip`` (what rate limits and the audit log see)."""
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers, **kwargs)


@pytest.fixture
async def app(migrated: Settings, providers: ScriptedProviders) -> AsyncIterator[FastAPI]:
    async with running_app(migrated, providers) as application:
        yield application


@pytest.fixture
def accounts(app: FastAPI) -> Accounts:
    return app.state.accounts


@pytest.fixture
async def admin_token(accounts: Accounts) -> str:
    user = await accounts.signup(ADMIN_EMAIL, PASSWORD)
    _, token = await accounts.create_token(user.id, "tests")
    return token


@pytest.fixture
async def client(app: FastAPI, admin_token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(app, admin_token) as http:
        yield http


@pytest.fixture
async def anon(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(app) as http:
        yield http


UserFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def make_user(
    app: FastAPI, accounts: Accounts, admin_token: str
) -> AsyncIterator[UserFactory]:
    """``await make_user("dev@x.test", role="developer", workspace="Default")`` → a client.

    A workspace named here is created when missing (its first member gets ``role``)."""
    opened: list[httpx.AsyncClient] = []

    async def make(email: str, *, role: str = "developer", workspace: str | None = None):
        user = await accounts.create_user(email, PASSWORD, role, workspace)
        _, token = await accounts.create_token(user.id, "tests")
        http = http_client(app, token)
        opened.append(http)
        return http

    yield make
    for http in opened:
        await http.aclose()


@pytest.fixture
def app_factory() -> Callable[..., Any]:
    """``async with app_factory(settings, providers, key_transport) as app: …``"""
    return running_app


@pytest.fixture
def connect() -> Callable[..., httpx.AsyncClient]:
    """``connect(app, token=None, ip=…, **httpx_kwargs)`` → a client (close it yourself)."""
    return http_client
