"""Property-based API testing: Schemathesis generates requests for every operation of the
OpenAPI spec and sends them in-process (ASGI) as the instance administrator.

Login and sign-up statuses are counted negated (a 401 there is a wrong password, not a lost
token). Checks: no 5xx (``not_a_server_error``) and every answer matches its documented schema
(``response_schema_conformance``). Bounded and reproducible: ``MAX_EXAMPLES`` per operation,
derandomized, no deadline, no example database. No real model is ever loaded: every model id
resolves to a scripted model with nothing scripted, so generated runs fail at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from agents import Model
from agents.testing import ScriptedModel
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import response_schema_conformance

from nexus.api.app import create_app
from nexus.providers.registry import ProviderRegistry
from nexus.security.accounts import Accounts
from nexus.settings import Settings
from nexus.store.migrate import upgrade
from nexus.testing.scripted_providers import ScriptedProviders

MAX_EXAMPLES = 20
CHECKS = [not_a_server_error, response_schema_conformance]
PASSWORD = "correct horse battery staple"


class NoRealModels(ScriptedProviders):
    """Ids are validated by the real registry, but every model is a scripted one."""

    def get_model(self, model_id: str, *, api_key: str | None = None) -> Model:
        if model_id.partition(":")[0] == "test":
            return super().get_model(model_id, api_key=api_key)
        self.real.check_model(model_id)
        return ScriptedModel()


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("no network in tests", request=request)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str], str]]:
    """The loaded schema, the admin's auth header and a stored agent's id; the app runs in
    Schemathesis' event loop (its ASGI transport starts the lifespan)."""
    home: Path = tmp_path_factory.mktemp("schemathesis")
    config = Settings(
        home=home,
        login_rate_per_ip_per_minute=1_000_000,
        run_rate_per_minute=1_000_000,
        run_rate_per_ip_per_minute=1_000_000,
        _env_file=None,  # type: ignore[call-arg]
    )
    upgrade(config.resolved_database_url)
    providers = NoRealModels(ProviderRegistry(config))
    providers.scripted("echo")
    app = create_app(
        config,
        providers=providers,  # type: ignore[arg-type]
        key_transport=httpx.MockTransport(_unreachable),
    )
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the lifespan
        # Cheap password hashing: generated sign-ups and logins are many (see conftest.py).
        from argon2 import PasswordHasher

        app.state.accounts = Accounts(
            app.state.services.db, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        )
        with asgi.get_client(app) as http:
            signup = http.post(
                "/api/v1/auth/signup", json={"email": "admin@nexus.test", "password": PASSWORD}
            )
            assert signup.status_code == 201, signup.text
            token = http.post(
                "/api/v1/auth/tokens",
                json={"name": "schemathesis"},
                headers={"X-CSRF-Token": signup.json()["csrf_token"]},
            ).json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            # Something to find: an agent on a scripted model, shared in the workspace.
            created = http.post(
                "/api/v1/agents", json={"name": "echo", "model": "test:echo"}, headers=auth
            )
            assert created.status_code == 201, created.text
        yield schema, auth, created.json()["id"]
    finally:
        asgi.shutdown_lifespans()


def explore(
    operation: Any, auth: dict[str, str], statuses: Counter[int], **fixed: Any
) -> tuple[int, str | None]:
    """Run one operation's generated cases: (how many, the failure or None). ``fixed`` pins
    parts of the request (e.g. ``path_parameters``) so the cases reach a real object."""
    count = 0

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(**fixed))
    def check(case: Any) -> None:
        nonlocal count
        count += 1
        response = case.call_and_validate(headers=auth, checks=CHECKS)
        signing_in = operation.path in ("/api/v1/auth/login", "/api/v1/auth/signup")
        statuses[response.status_code if not signing_in else -response.status_code] += 1

    try:
        check()
    except Exception as exc:  # every operation's failure is collected, not just the first
        return count, f"{type(exc).__name__}: {exc}"[:3000]
    return count, None


def test_generated_requests_get_no_5xx_and_documented_answers(api, record_property) -> None:
    schema, auth, agent_id = api
    cases_per_operation: dict[str, int] = {}
    failures: dict[str, str] = {}
    statuses: Counter[int] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    # First on the stored agent, so sub-resources and runs reach their handlers (before the
    # generated DELETEs can remove it: agents are found by name too).
    for operation in operations:
        if "{agent_id}" in operation.path and operation.label != "DELETE /api/v1/agents/{agent_id}":
            count, failure = explore(
                operation, auth, statuses, path_parameters={"agent_id": agent_id}
            )
            cases_per_operation[operation.label] = count
            if failure is not None:
                failures[f"{operation.label} (stored agent)"] = failure
    for operation in operations:
        count, failure = explore(operation, auth, statuses)
        cases_per_operation[operation.label] = cases_per_operation.get(operation.label, 0) + count
        if failure is not None:
            failures[operation.label] = failure
    total = sum(cases_per_operation.values())
    print(
        f"schemathesis: {total} generated cases over {len(cases_per_operation)} operations "
        f"(up to {MAX_EXAMPLES} per operation and pass); statuses {dict(sorted(statuses.items()))}"
    )
    record_property("schemathesis_cases", total)
    assert failures == {}
    assert len(cases_per_operation) == len(
        [m for item in schema.raw_schema["paths"].values() for m in item]
    )
    assert total >= len(cases_per_operation)
    # Signed in throughout (a 401 outside login would mean the requests never got past
    # auth), and the generated data reached the handlers, not only the validators.
    assert statuses[401] == 0
    assert statuses[200] + statuses[201] + statuses[204] >= 150
