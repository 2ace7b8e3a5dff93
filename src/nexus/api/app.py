"""The FastAPI application factory: services are built in the lifespan, one set per app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from fastapi import FastAPI

from nexus import __version__
from nexus.api.docs import install_docs
from nexus.api.errors import install_error_handlers
from nexus.api.hardening import install_hardening
from nexus.api.rate_limits import RateLimits
from nexus.api.routes import (
    admin,
    agent_tools,
    agents,
    apps,
    audit,
    auth,
    code,
    executions,
    handoffs,
    health,
    models,
    node_types,
    runs,
    sandbox,
    sessions,
    users,
    workflows,
    workspaces,
    ws,
)
from nexus.api.web_ui import install_web_ui
from nexus.providers.registry import ProviderRegistry
from nexus.security.accounts import Accounts
from nexus.settings import Settings, get_settings
from nexus.worker.agent_runs import AgentRunner
from nexus.worker.apps import Apps
from nexus.worker.code_tasks import CodeTasks
from nexus.worker.services import build_services
from nexus.worker.workflow_runs import WorkflowRuns

ROUTERS = (
    health,
    auth,
    users,
    workspaces,
    audit,
    models,
    agents,
    handoffs,
    agent_tools,
    sessions,
    runs,
    sandbox,
    code,
    apps,
    workflows,
    executions,
    node_types,
    ws,
    admin,
)
log = logging.getLogger(__name__)


def provider_base_urls(settings: Settings) -> dict[str, str]:
    """Where a provider key is checked before it is saved (``GET {base}/models``)."""
    return {"openai": settings.openai_base_url, "anthropic": settings.anthropic_base_url}


def create_app(
    settings: Settings | None = None,
    *,
    providers: ProviderRegistry | None = None,
    key_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """``providers`` and ``key_transport`` replace the model registry and the HTTP transport
    used to check provider keys (tests script models and never touch the network)."""
    settings = settings if settings is not None else get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings, providers)
        runner = AgentRunner(services)
        app.state.services = services
        await admin.apply_stored_limits(services)  # limits an administrator overrode
        app.state.runner = runner
        workflow_runs = WorkflowRuns(services, runner)
        app.state.workflow_runs = workflow_runs
        code_tasks = CodeTasks(services, runner)
        app.state.code_tasks = code_tasks
        app.state.accounts = Accounts(
            services.db, session_ttl=timedelta(hours=settings.session_ttl_hours)
        )
        app.state.sandbox = services.sandbox
        if services.sandbox is not None:
            await asyncio.to_thread(services.sandbox.start)
            if not services.sandbox.available:
                log.warning("code execution is disabled: bubblewrap failed its self-test")
            else:
                log.info("sandbox isolation: %s", services.sandbox.isolation)
        hosted_apps = Apps(services.sandbox, services.db)
        app.state.apps = hosted_apps
        await hosted_apps.recover()
        app_sweeper = asyncio.create_task(hosted_apps.run(), name="hosted-apps-ttl")
        # Agent runs cut short by a dead process end failed; workflow runs resume from
        # their checkpoints.
        await runner.recover()
        await workflow_runs.recover()
        await code_tasks.recover()  # code tasks cut short end failed
        try:
            yield
        finally:
            app_sweeper.cancel()
            await asyncio.gather(app_sweeper, return_exceptions=True)
            await hosted_apps.shutdown()
            await workflow_runs.shutdown()
            await runner.shutdown()
            if services.sandbox is not None:
                services.sandbox.close()
            await services.db.dispose()

    app = FastAPI(
        title="Nexus",
        version=__version__,
        description="Self-hosted agentic AI platform: agents, runs, models, accounts.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.rate_limits = RateLimits(settings)
    app.state.provider_base_urls = provider_base_urls(settings)
    app.state.key_transport = key_transport
    install_error_handlers(app)
    install_hardening(app, settings)
    for module in ROUTERS:
        app.include_router(module.router)
    app.include_router(apps.proxy_router)  # /apps/{id}/…: hosted apps' reverse proxy
    install_docs(app)
    # Registered last: the catch-all must not shadow any API route.
    install_web_ui(app, settings.web_dist)
    return app
