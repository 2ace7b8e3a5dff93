"""Start, execute, cancel and recover agent runs (inline dispatch: an asyncio task per run).

A run is accepted only once its agents compile (so a missing provider key or an unknown tool is
a 4xx before anything is written); compiled agents are reused between runs (``compile``). Its
row is inserted ``queued`` with a snapshot of every spec it can reach; the task then moves it to
``running``, executes it, records the outcome, and emits ``run_completed`` last — after the row
holds the final state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from agents import Model, RunConfig

from nexus.agents.compile_cache import DEFAULT_MAX_ENTRIES, CompiledAgentCache
from nexus.agents.compiler import AgentBundle, CompiledAgents, compile_bundle
from nexus.agents.guardrails import ModelResolver
from nexus.agents.runner import AgentRunOutcome, run_agent
from nexus.agents.spec import AgentSpec
from nexus.agents.validation import validate_references
from nexus.core import events as ev
from nexus.core.errors import ConflictError, InvalidInputError, NexusError
from nexus.core.ids import new_id
from nexus.core.status import RunStatus
from nexus.core.usage import RunUsage
from nexus.observability.tracing import trace_id_for
from nexus.security.principal import Visibility
from nexus.store.agent_repository import StoredAgent
from nexus.store.conversations import StoredSession
from nexus.store.event_log import RunEventWriter
from nexus.store.run_repository import StoredRun
from nexus.store.tables import RunRow
from nexus.worker.services import RunServices

log = logging.getLogger(__name__)


class AgentRunner:
    def __init__(
        self, services: RunServices, *, compiled_cache_size: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        self.s = services
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.compiled_agents = CompiledAgentCache(compiled_cache_size)

    async def find_ref(self, ref: str, workspace_id: str | None) -> StoredAgent | None:
        """A handoff target: an agent of the same workspace by id or name, or a public one by id."""
        agent = await self.s.agents.get(ref)
        if agent is not None and (
            agent.workspace_id == workspace_id or agent.visibility == Visibility.PUBLIC
        ):
            return agent
        return await self.s.agents.by_name(ref, workspace_id)

    async def validate(self, spec: AgentSpec, workspace_id: str | None) -> None:
        async def exists(ref: str) -> bool:
            return await self.find_ref(ref, workspace_id) is not None

        await validate_references(
            spec, providers=self.s.providers, tools=self.s.tools, agent_exists=exists
        )

    async def bundle_for(
        self, spec: AgentSpec, workspace_id: str | None, agent_id: str | None = None
    ) -> AgentBundle:
        """``spec`` plus every stored agent reachable through its handoffs."""
        reachable: dict[str, AgentSpec] = {}
        pending = [ref.agent for ref in spec.handoffs]
        while pending:
            ref = pending.pop()
            if ref in reachable or ref in (agent_id, spec.name):
                continue
            target = await self.find_ref(ref, workspace_id)
            if target is None:
                raise InvalidInputError(
                    f"agent {spec.name!r} refers to missing agent {ref!r}; edit its handoffs",
                    field="handoffs",
                )
            reachable[ref] = target.spec
            pending.extend(h.agent for h in target.spec.handoffs)
        return AgentBundle(root=spec, reachable=reachable)

    async def compile(
        self,
        bundle: AgentBundle,
        owner_id: str | None,
        workspace_id: str | None,
        *,
        bundle_dict: dict[str, Any] | None = None,
    ) -> CompiledAgents:
        """``bundle`` compiled with the caller's keys, reused from earlier runs when the specs,
        the keys and the tool registry are unchanged (``CompiledAgentCache``). ``bundle_dict``
        is ``bundle.to_dict()`` if the caller already has it."""
        keys = await self._provider_keys(bundle, owner_id, workspace_id)
        tools = self.s.tools
        cache_key = self.compiled_agents.key(
            bundle_dict if bundle_dict is not None else bundle.to_dict(), keys, tools.version
        )
        resolver = self._resolver(keys)
        return self.compiled_agents.get_or_compile(
            cache_key, lambda: compile_bundle(bundle, models=resolver, tools=tools)
        )

    async def _provider_keys(
        self, bundle: AgentBundle, owner_id: str | None, workspace_id: str | None
    ) -> dict[str, str]:
        """Every keyed provider the bundle uses: user's key → workspace's → instance's (vault);
        absent: the provider's setting applies. Keys go only into the SDK model clients."""
        keys: dict[str, str] = {}
        if self.s.vault is not None:
            for provider in bundle.providers():
                if provider in keys or not self._requires_key(provider):
                    continue
                key = await self.s.vault.resolve(
                    provider, user_id=owner_id, workspace_id=workspace_id
                )
                if key is not None:
                    keys[provider] = key
        return keys

    def _resolver(self, keys: dict[str, str]) -> ModelResolver:
        providers = self.s.providers

        def resolve(model_id: str) -> Model:
            return providers.get_model(model_id, api_key=keys.get(model_id.partition(":")[0]))

        return resolve

    def _requires_key(self, provider: str) -> bool:
        try:
            return self.s.providers.requires_key(provider)
        except NexusError:
            return False

    async def start(
        self,
        spec: AgentSpec,
        text: str,
        *,
        owner_id: str | None = None,
        workspace_id: str | None = None,
        agent_id: str | None = None,
        agent_workspace_id: str | None = None,
        session_id: str | None = None,
    ) -> StoredRun:
        """Accept a run of ``spec`` (a stored agent's, or one read from a file).

        The run belongs to ``owner_id`` in ``workspace_id``; handoff targets are looked up in
        the agent's own workspace (``agent_workspace_id``, default: ``workspace_id``).
        """
        if len(text) > self.s.settings.max_run_input_chars:
            raise InvalidInputError(
                f"input is longer than {self.s.settings.max_run_input_chars} characters",
                field="input",
            )
        refs_workspace = agent_workspace_id if agent_workspace_id is not None else workspace_id
        bundle = await self.bundle_for(spec, refs_workspace, agent_id)
        snapshot = bundle.to_dict()
        compiled = await self.compile(bundle, owner_id, workspace_id, bundle_dict=snapshot)
        run_id = new_id("run")
        run = await self.s.runs.create(
            run_id,
            agent_id=agent_id,
            owner_id=owner_id,
            workspace_id=workspace_id,
            session_id=session_id,
            input={"input": text},
            spec_snapshot=snapshot,
        )
        # Conversation history is private to its owner: the stored key includes the user.
        history_key = f"{owner_id or 'system'}:{session_id}" if session_id else None
        writer = self.s.events.open_new(run_id)  # a brand-new run: nothing to look up
        task = asyncio.get_running_loop().create_task(
            self._execute(run_id, bundle, compiled, text, history_key, writer),
            name=f"nexus-run-{run_id}",
        )
        self.track(run_id, task)
        return run

    def track(self, run_id: str, task: asyncio.Task[None]) -> None:
        """Register the task executing ``run_id`` (any inline run kind: code tasks use it too),
        so ``wait``, ``cancel`` and ``shutdown`` reach it; it is forgotten when it ends."""
        self._tasks[run_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(run_id, None))

    def is_live(self, run_id: str) -> bool:
        """Whether ``run_id`` executes in this process."""
        return run_id in self._tasks

    async def wait(self, run_id: str) -> StoredRun:
        task = self._tasks.get(run_id)
        if task is not None:
            await asyncio.shield(task)
        return await self.s.runs.get(run_id)

    async def cancel(self, run_id: str) -> StoredRun:
        run = await self.s.runs.get(run_id)
        if run.status.is_final:
            raise ConflictError(f"run {run_id!r} already finished ({run.status.value})")
        task = self._tasks.get(run_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        else:  # not live in this process (left over from a crash): close it here
            await self._close_orphan(run_id, RunStatus.CANCELLED, "cancelled by request")
        return await self.s.runs.get(run_id)

    async def recover(self) -> int:
        """At start-up: agent runs left queued/running by a dead process end as failed.
        (Workflow runs resume from their checkpoints instead: ``WorkflowRuns.recover``.)"""
        count = 0
        for status in (RunStatus.QUEUED, RunStatus.RUNNING):
            while True:
                runs, _ = await self.s.runs.list(
                    where=RunRow.kind == "agent", status=status, limit=100
                )
                runs = [r for r in runs if r.id not in self._tasks]
                if not runs:
                    break
                for run in runs:
                    await self._close_orphan(
                        run.id, RunStatus.FAILED, "interrupted: the server stopped during the run"
                    )
                    count += 1
        return count

    async def shutdown(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _close_orphan(self, run_id: str, status: RunStatus, message: str) -> None:
        code = "cancelled" if status is RunStatus.CANCELLED else "interrupted"
        error = {"code": code, "message": message}
        if await self.s.runs.finish(run_id, status, error=error):
            writer = await self.s.events.open(run_id)
            writer.emit(ev.RUN_COMPLETED, {"status": status.value, "output": None, "error": error})
            await writer.close()

    async def _execute(
        self,
        run_id: str,
        bundle: AgentBundle,
        compiled: CompiledAgents,
        text: str,
        history_key: str | None,
        writer: RunEventWriter,
    ) -> None:
        usage = RunUsage()
        outcome = AgentRunOutcome(RunStatus.CANCELLED, usage=usage)
        try:
            if not await self.s.runs.mark_running(run_id):
                outcome = AgentRunOutcome(
                    RunStatus.CANCELLED, error={"code": "cancelled", "message": "cancelled"}
                )
                return
            writer.emit(ev.RUN_STARTED, {"agent": bundle.root.name, "model": bundle.root.model})
            session = StoredSession(self.s.db, history_key) if history_key else None
            config = RunConfig(
                workflow_name=f"agent:{bundle.root.name}",
                trace_id=trace_id_for(run_id),
                group_id=run_id,
            )
            async with asyncio.timeout(self.s.settings.run_timeout_s):  # no extra task
                outcome = await run_agent(
                    compiled,
                    text,
                    sink=writer,
                    session=session,
                    max_turns=bundle.root.max_turns,
                    run_config=config,
                    usage=usage,
                )
        except asyncio.CancelledError:
            outcome = AgentRunOutcome(
                RunStatus.CANCELLED,
                error={"code": "cancelled", "message": "cancelled by request"},
                usage=usage,
            )
        except TimeoutError:
            outcome = _failure(
                writer, "timeout", f"the run exceeded {self.s.settings.run_timeout_s} s", usage
            )
        except Exception as exc:  # anything unforeseen still closes the run cleanly
            log.exception("run %s crashed", run_id)
            outcome = _failure(writer, "internal_error", f"{type(exc).__name__}: {exc}", usage)
        finally:
            await _until_done(self._record(run_id, outcome, writer))

    async def _record(self, run_id: str, outcome: AgentRunOutcome, writer: RunEventWriter) -> None:
        """The final state, the trace spans and the last events (``run_completed`` included)
        commit in one transaction: a reader that sees ``run_completed`` sees the final row."""
        usage = outcome.usage.to_dict()
        final = {"output": outcome.output, "error": outcome.error, "usage": usage}
        completed = {
            "status": outcome.status.value,
            "output": outcome.output,
            "error": outcome.error,
            "usage": usage,
        }
        try:
            spans = self.s.spans.take(trace_id_for(run_id))
            async with writer.last_batch(ev.RUN_COMPLETED, completed) as events:
                await self.s.runs.finish(
                    run_id, outcome.status, **final, spans=spans, events=events
                )
        except Exception:  # spans are diagnostics: never lose the run's result over them
            log.exception("could not store the trace spans or last events of run %s", run_id)
            await self.s.runs.finish(run_id, outcome.status, **final)
            writer.emit(ev.RUN_COMPLETED, completed)  # after the row holds the final state
        await writer.close()


async def _until_done(record: Coroutine[Any, Any, None]) -> None:
    """Run ``record`` to its end even if this task is cancelled meanwhile (``shutdown`` cancels
    a run that is already recording its outcome): the task ends only after it, so nobody
    disposes of the database under a half-done write. The cancellation is then re-raised."""
    task = asyncio.ensure_future(record)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    task.result()


def _failure(writer: RunEventWriter, code: str, message: str, usage: RunUsage) -> AgentRunOutcome:
    error: dict[str, Any] = {"code": code, "message": message}
    writer.emit(ev.RUN_FAILED, error)
    return AgentRunOutcome(RunStatus.FAILED, error=error, usage=usage)
