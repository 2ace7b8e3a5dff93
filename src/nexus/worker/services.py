"""The services of one Nexus process (database, registries, event log), built once."""

from __future__ import annotations

from dataclasses import dataclass

from nexus.observability.tracing import SpanCollector
from nexus.observability.tracing import install as install_tracing
from nexus.providers.registry import ProviderRegistry
from nexus.sandbox.bubblewrap import BubblewrapConfig, BubblewrapSandbox
from nexus.security.keyring import Keyring
from nexus.security.vault import Vault
from nexus.settings import Settings
from nexus.store.agent_repository import AgentRepository
from nexus.store.code_projects import CodeProjectRepository
from nexus.store.db import Database, connect
from nexus.store.event_log import RunEventLog
from nexus.store.run_repository import RunRepository
from nexus.store.workflow_repository import WorkflowRepository
from nexus.tools.code_interpreter import code_interpreter_tool
from nexus.tools.http_fetch import HttpFetcher
from nexus.tools.registry import ToolRegistry, default_registry


@dataclass
class RunServices:
    """Everything a run needs, built once per process."""

    settings: Settings
    db: Database
    providers: ProviderRegistry
    tools: ToolRegistry
    events: RunEventLog
    spans: SpanCollector
    vault: Vault | None = None
    sandbox: BubblewrapSandbox | None = None
    http_fetcher: HttpFetcher | None = None
    """What workflow http nodes fetch with (default: a fresh SSRF-guarded ``HttpFetcher``)."""

    @property
    def agents(self) -> AgentRepository:
        return AgentRepository(self.db)

    @property
    def runs(self) -> RunRepository:
        return RunRepository(self.db)

    @property
    def workflows(self) -> WorkflowRepository:
        return WorkflowRepository(self.db)

    @property
    def code_projects(self) -> CodeProjectRepository:
        """Code projects and their versioned files (``files(project_id)`` for hosted apps)."""
        return CodeProjectRepository(self.db)


def build_services(settings: Settings, providers: ProviderRegistry | None = None) -> RunServices:
    """The services of one process; ``providers`` replaces the registry (tests script models)."""
    keyring = Keyring.load(settings.home)  # refuses a weak master key before anything starts
    db = connect(settings.resolved_database_url)
    sandbox = BubblewrapSandbox(BubblewrapConfig())  # self-tested by the app at start-up
    tools = default_registry()
    tools.register(code_interpreter_tool(sandbox))
    return RunServices(
        settings=settings,
        db=db,
        providers=providers if providers is not None else ProviderRegistry(settings),
        tools=tools,
        events=RunEventLog(db),
        spans=install_tracing(),
        vault=Vault(db, keyring),
        sandbox=sandbox,
    )
