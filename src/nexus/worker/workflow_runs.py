"""Start, execute, cancel, retry, re-run, approve and recover workflow runs (inline dispatch).

A workflow run is a ``runs`` row with ``kind="workflow"``; its ``spec_snapshot`` holds the exact
spec it runs (``{"workflow_id", "version", "depth", "spec"}``), so editing or publishing the
workflow later never changes a run. Everything is checked (spec compiles, inputs match the
schema) before the row is inserted ``queued``; an asyncio task then drives the engine's
``WorkflowExecutor`` over the SQL checkpointer, writing events to the same ``RunEventLog`` as agent
runs (so ``GET /api/v1/runs/{id}/events`` streams them unchanged).

Size: over 800 lines because ``PlatformServices`` (the engine's model, agent, tool, code and
sub-workflow services) still lives here; it is the next thing to move into its own module.

Crash recovery: a run left ``queued`` or ``running`` by a dead process is *resumed* at start-up —
completed nodes are replayed from their checkpoints, the interrupted node runs again with the
same attempt (so the same idempotency key ``run_id:node_id:attempt``). ``waiting`` runs need
nothing: their state is in the database and an approval resumes them.

Several worker processes may share one database: a run is executed only by the process holding
its lease (``RunLeases``), so recovery in one process never runs a run another live process is
executing, and a run whose worker died is taken over (at once on the same host, after the lease
expires elsewhere).

This module also wires the engine's ``Services`` to the platform (see ``PlatformServices``).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import os
import secrets
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import Any

import sqlalchemy as sa
from agents import Agent, RunConfig, Runner
from agents.stream_events import RawResponsesStreamEvent

from nexus.agents.compiler import compile_bundle
from nexus.agents.output_schema import JsonSchemaOutput
from nexus.agents.runner import run_agent
from nexus.core import events as ev
from nexus.core.errors import (
    ConflictError,
    InvalidInputError,
    NexusError,
    NotFoundError,
    RunError,
    ToolError,
)
from nexus.core.events import RunEvent
from nexus.core.ids import new_id
from nexus.core.sandbox_types import ExecRequest, SandboxUnavailableError
from nexus.core.status import RunStatus
from nexus.core.usage import RunUsage
from nexus.engine.checkpoints import NodeStatus
from nexus.engine.executor import RunOutcome, WorkflowExecutor
from nexus.engine.http_client import HttpRequester
from nexus.engine.plan import WorkflowPlan
from nexus.engine.services import ModelAnswer, Services, TokenCallback
from nexus.engine.spec import WorkflowSpec
from nexus.store.checkpointer import SqlCheckpointer
from nexus.store.db import Database
from nexus.store.event_log import RunEventWriter
from nexus.store.run_repository import StoredRun
from nexus.store.tables import RunRow, utcnow
from nexus.store.workflow_repository import StoredWorkflow
from nexus.tools.http_fetch import HttpFetcher
from nexus.tools.registry import invoke_tool
from nexus.worker.agent_runs import AgentRunner
from nexus.worker.services import RunServices

log = logging.getLogger(__name__)

WORKFLOW = "workflow"


def snapshot(
    spec: WorkflowSpec,
    workflow_id: str | None,
    version: int | None,
    depth: int = 0,
    parent_run_id: str | None = None,
) -> dict[str, Any]:
    """A run's ``spec_snapshot``: the exact spec it runs, and where it came from (a sub-workflow
    run also names the run whose node started it)."""
    data = {"workflow_id": workflow_id, "version": version, "depth": depth, "spec": spec.to_json()}
    if parent_run_id is not None:
        data["parent_run_id"] = parent_run_id
    return data


def check_inputs(plan: WorkflowPlan, inputs: dict[str, Any]) -> None:
    """``InvalidInputError`` naming every input that does not match the workflow's schema."""
    errors = list(plan.inputs_validator.iter_errors(inputs))
    if not errors:
        return
    details = [
        {
            "node": None,
            "field": "input_data" + "".join(f".{p}" for p in e.absolute_path),
            "message": e.message,
        }
        for e in errors
    ]
    first = details[0]
    raise InvalidInputError(
        f"workflow inputs are invalid: {first['field']}: {first['message']}",
        field=str(first["field"]),
        details=details,
    )


class _TokenSink:
    """An ``EventSink`` for an agent run inside a node: forwards its tokens, drops the rest."""

    def __init__(self, on_token: TokenCallback | None) -> None:
        self.on_token = on_token
        self.seq = 0

    def emit(self, type: str, data: dict[str, Any]) -> RunEvent:
        self.seq += 1
        if type == ev.TOKEN and self.on_token is not None:
            self.on_token(str(data.get("delta", "")))
        return RunEvent("", self.seq, type, data, 0.0)


def accepts_idempotency_key(handler: Callable[..., Any]) -> bool:
    """Whether a tool handler takes an ``idempotency_key`` keyword argument."""
    try:
        parameters = inspect.signature(handler).parameters
    except (TypeError, ValueError):
        return False
    param = parameters.get("idempotency_key")
    return param is not None and param.kind in (
        inspect.Parameter.KEYWORD_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    )


class _JsonAnswer(JsonSchemaOutput):
    """Asks the model for JSON matching the llm node's ``output_schema`` (structured output
    where the provider has it) but hands the answer back as text, valid or not: the node
    validates it and repairs an invalid one by asking again with the errors. Raising here, as
    ``JsonSchemaOutput`` does, would fail the node before it could repair anything."""

    def validate_json(self, json_str: str) -> Any:
        return json_str


def _json_answer(schema: dict[str, Any] | None) -> _JsonAnswer | None:
    """Structured output for an object schema; other schemas (arrays, scalars) are asked for
    in the prompt only, since providers' JSON modes want an object at the top."""
    if schema is None or schema.get("type") != "object":
        return None
    try:
        return _JsonAnswer(schema)
    except NexusError:
        return None


class PlatformServices:
    """The engine's services for the runs of one owner in one workspace (keys are theirs)."""

    def __init__(
        self,
        runs: WorkflowRuns,
        owner_id: str | None,
        workspace_id: str | None,
    ) -> None:
        self.runs = runs
        self.s = runs.s
        self.owner_id = owner_id
        self.workspace_id = workspace_id

    def services(self) -> Services:
        return Services(
            llm=self.llm,
            agent=self.agent,
            tool=self.tool,
            http=self.http,
            subworkflow=self.sub,
            run_code=self.run_code,
        )

    async def run_code(
        self,
        language: str,
        code: str,
        *,
        files: dict[str, str],
        timeout_s: float | None,
        memory_mb: int | None,
    ) -> dict[str, Any]:
        """``code`` nodes: the program runs in the sandbox, never in this process."""
        sandbox = self.s.sandbox
        if sandbox is None:
            raise SandboxUnavailableError(
                "code execution is disabled: no sandbox is configured (install bubblewrap)"
            )
        result = await sandbox.execute(
            ExecRequest(
                language=language,  # type: ignore[arg-type]
                code=code,
                files=files,
                timeout_s=timeout_s,
                memory_mb=memory_mb,
            )
        )
        return {
            "exit_code": result.exit_code,
            "stdout": result.stdout,
            "stderr": result.stderr,
            "timed_out": result.timed_out,
            "killed_reason": result.killed_reason,
            "files_changed": result.files_changed,
            "duration_ms": result.duration_ms,
        }

    async def _key(self, provider: str) -> str | None:
        if self.s.vault is None:
            return None
        try:
            if not self.s.providers.requires_key(provider):
                return None
        except NexusError:
            return None
        return await self.s.vault.resolve(
            provider, user_id=self.owner_id, workspace_id=self.workspace_id
        )

    async def llm(
        self,
        prompt: str,
        *,
        model: str,
        system: str | None,
        schema: dict[str, Any] | None,
        on_token: TokenCallback | None,
    ) -> ModelAnswer:
        """The answer's text, with the tokens of the call counted under ``model``."""
        sdk_model = self.s.providers.get_model(
            model, api_key=await self._key(model.partition(":")[0])
        )
        agent: Agent[Any] = Agent(
            name="llm_node",
            instructions=system,
            model=sdk_model,
            output_type=_json_answer(schema),
        )
        result = Runner.run_streamed(
            agent, prompt, max_turns=1, run_config=RunConfig(tracing_disabled=True)
        )
        async for event in result.stream_events():
            if (
                on_token is not None
                and isinstance(event, RawResponsesStreamEvent)
                and event.data.type == "response.output_text.delta"
            ):
                on_token(event.data.delta)
        output = result.final_output
        usage = RunUsage()
        for response in result.raw_responses:
            u = response.usage
            usage.add(
                model,
                requests=u.requests if u.requests is not None else 1,
                input_tokens=u.input_tokens,
                output_tokens=u.output_tokens,
            )
        text = output if isinstance(output, str) else json.dumps(output)
        return ModelAnswer(text, usage)

    async def agent(
        self, agent: str, input: Any, *, idempotency_key: str, on_token: TokenCallback | None
    ) -> ModelAnswer:
        """The agent's final output, with the usage of its run (per model of its bundle)."""
        runner = self.runs.agents
        stored = await runner.find_ref(agent, self.workspace_id)
        if stored is None:
            raise NotFoundError(f"agent {agent!r} not found in this workspace", field="agent")
        bundle = await runner.bundle_for(stored.spec, stored.workspace_id, stored.id)
        models = await runner.model_resolver(bundle, self.owner_id, self.workspace_id)
        compiled = compile_bundle(bundle, models=models, tools=self.s.tools)
        text = input if isinstance(input, str) else json.dumps(input)
        outcome = await run_agent(
            compiled,
            text,
            sink=_TokenSink(on_token),
            max_turns=bundle.root.max_turns,
            run_config=RunConfig(tracing_disabled=True, group_id=idempotency_key),
        )
        if outcome.status is not RunStatus.SUCCEEDED:
            error = outcome.error or {}
            raise RunError(
                f"agent {agent!r} ended {outcome.status.value}: {error.get('message', '')}"
            )
        return ModelAnswer(outcome.output, outcome.usage)

    async def tool(self, name: str, arguments: dict[str, Any], *, idempotency_key: str) -> Any:
        """A tool whose handler takes an ``idempotency_key`` keyword gets the node's key
        (``run_id:node_id:attempt``, the same when a crashed run re-runs the node), so it can
        recognise a repeated call; other tools are called with their arguments only."""
        if name not in self.s.tools:
            raise ToolError(f"unknown tool {name!r}; see GET /api/v1/agents/tools/available")
        spec = self.s.tools.get(name)
        if accepts_idempotency_key(spec.handler):
            spec = replace(spec, handler=partial(spec.handler, idempotency_key=idempotency_key))
        text = await invoke_tool(spec, json.dumps(arguments))
        if text.startswith("error: "):  # the registry reports failures as text for models
            raise ToolError(text.removeprefix("error: "))
        try:
            return json.loads(text)
        except ValueError:
            return text

    async def http(
        self, method: str, url: str, *, headers: dict[str, str], body: Any, timeout_s: float
    ) -> dict[str, Any]:
        fetcher = self.s.http_fetcher if self.s.http_fetcher is not None else HttpFetcher()
        requester = HttpRequester(fetcher)
        return await requester.request(method, url, headers=headers, body=body, timeout_s=timeout_s)

    async def sub(
        self,
        workflow_id: str,
        version: int,
        inputs: dict[str, Any],
        *,
        depth: int,
        idempotency_key: str,
    ) -> dict[str, Any]:
        """The child run's id derives from the parent node's idempotency key: a parent resumed
        after a crash finds and resumes (or reads) the same child instead of starting another."""
        stored = await self.s.workflows.get(workflow_id)
        if stored is None or stored.workspace_id != self.workspace_id:
            raise NotFoundError(f"workflow {workflow_id!r} not found", field="workflow_id")
        spec = (await self.s.workflows.version(workflow_id, version)).spec
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        run_id = f"run_sub{digest}"
        run = await self.s.runs.find(run_id)
        if run is None:
            plan = self.runs.compile(spec)
            check_inputs(plan, inputs)
            await self.s.runs.create(
                run_id,
                agent_id=None,
                session_id=None,
                input=inputs,
                spec_snapshot=snapshot(
                    spec, workflow_id, version, depth, idempotency_key.split(":", 1)[0]
                ),
                owner_id=self.owner_id,
                workspace_id=self.workspace_id,
                kind=WORKFLOW,
                workflow_id=workflow_id,
            )
            run = await self.s.runs.get(run_id)
        if not run.status.is_final:
            await self.runs.execute(run_id, fresh=run.status is RunStatus.QUEUED)
            run = await self.s.runs.get(run_id)
        if run.status is not RunStatus.SUCCEEDED:
            message = (run.error or {}).get("message", "")
            raise RunError(f"sub-workflow run {run_id} ended {run.status.value}: {message}")
        return dict(run.output or {})


PLAN_CACHE = 64
"""Compiled plans kept per ``WorkflowRuns`` (by spec digest)."""

LEASE_TTL_S = 30.0
"""How long a run's lease lasts unless renewed (renewed every third of it while executing)."""


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host is alive (a zombie counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rpartition(")")[2].split()[:1]
        return state not in (["Z"], ["X"])
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLeases:
    """Which worker process executes which run, so two processes never execute the same run.

    A lease is ``runs.lease_owner`` (``host:pid:random``, one per ``WorkflowRuns``) and
    ``runs.lease_until``. It is taken with one ``UPDATE ... WHERE`` that only matches when the
    run is free, already ours, expired, or held by a process of this host that is gone (a
    SIGKILLed worker restarted on the same machine takes its runs back at once; elsewhere they
    wait for the lease to expire). The executing worker renews it every ``ttl_s / 3`` and
    releases it when the run stops; a worker that fails to renew stops executing the run."""

    def __init__(self, db: Database, *, ttl_s: float = LEASE_TTL_S) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self.host = socket.gethostname()
        self.owner = f"{self.host}:{os.getpid()}:{secrets.token_hex(4)}"

    def _gone(self, owner: str | None) -> bool:
        if owner is None:
            return False
        host, _, rest = owner.partition(":")
        pid_text = rest.partition(":")[0]
        if host != self.host or not pid_text.isdigit():
            return False
        pid = int(pid_text)
        return pid != os.getpid() and not process_alive(pid)

    async def acquire(self, run_id: str) -> bool:
        """Take (or renew) the lease of ``run_id``; ``False`` when a live worker holds it."""
        now = utcnow()
        async with self.db.sessions.begin() as session:
            holder = await session.scalar(sa.select(RunRow.lease_owner).where(RunRow.id == run_id))
            takeable = sa.or_(
                RunRow.lease_owner.is_(None),
                RunRow.lease_owner == self.owner,
                RunRow.lease_until.is_(None),
                RunRow.lease_until < now,
            )
            if self._gone(holder):
                takeable = sa.or_(takeable, RunRow.lease_owner == holder)
            result = await session.execute(
                sa.update(RunRow)
                .where(RunRow.id == run_id, takeable)
                .values(lease_owner=self.owner, lease_until=now + timedelta(seconds=self.ttl_s))
            )
            return bool(result.rowcount == 1)

    async def renew(self, run_id: str) -> bool:
        """Extend our lease; ``False`` when it is no longer ours, or when the run was finished
        meanwhile by someone else (cancelled through another worker's API)."""
        until = utcnow() + timedelta(seconds=self.ttl_s)
        final = [s.value for s in RunStatus if s.is_final]
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                sa.update(RunRow)
                .where(
                    RunRow.id == run_id,
                    RunRow.lease_owner == self.owner,
                    RunRow.status.not_in(final),
                )
                .values(lease_until=until)
            )
            return bool(result.rowcount == 1)

    async def release(self, run_id: str) -> None:
        async with self.db.sessions.begin() as session:
            await session.execute(
                sa.update(RunRow)
                .where(RunRow.id == run_id, RunRow.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
            )

    async def keep(self, run_id: str, task: asyncio.Task[Any]) -> None:
        """Renew the lease until cancelled; if it is lost, stop ``task`` (like a crash: the
        worker that took the run over continues it)."""
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                kept = await self.renew(run_id)
            except Exception:  # a lost database: try again at the next tick
                log.warning("could not renew the lease of run %s", run_id, exc_info=True)
                continue
            if not kept:
                log.warning("run %s: lease lost or run finished elsewhere; stopping", run_id)
                task.cancel()
                return


class WorkflowRuns:
    """Workflow runs of this process; one per app."""

    def __init__(
        self, services: RunServices, agents: AgentRunner, *, lease_ttl_s: float = LEASE_TTL_S
    ) -> None:
        self.s = services
        self.agents = agents
        self.leases = RunLeases(services.db, ttl_s=lease_ttl_s)
        self.checkpointer = SqlCheckpointer(services.db)
        self._validator = WorkflowExecutor(self.checkpointer)
        self.node_types = self._validator.registry
        self._executors: dict[str, WorkflowExecutor] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._plans: OrderedDict[str, WorkflowPlan] = OrderedDict()

    def compile(self, spec: WorkflowSpec) -> WorkflowPlan:
        """``InvalidInputError`` (with ``details`` naming node and field) for a bad graph."""
        return self._validator.compile(spec)

    def plan_for(self, spec_json: dict[str, Any]) -> WorkflowPlan:
        """The plan of a run's ``spec_snapshot["spec"]``: compiled once per distinct spec and
        shared by its runs (plans are immutable), the ``PLAN_CACHE`` most recent kept."""
        text = json.dumps(spec_json, sort_keys=True, separators=(",", ":"), default=str)
        key = hashlib.sha256(text.encode()).hexdigest()
        plan = self._plans.get(key)
        if plan is None:
            plan = self.compile(WorkflowSpec.model_validate(spec_json))
            self._plans[key] = plan
            if len(self._plans) > PLAN_CACHE:
                self._plans.popitem(last=False)
        else:
            self._plans.move_to_end(key)
        return plan

    def executor_for(self, owner_id: str | None, workspace_id: str | None) -> WorkflowExecutor:
        """An executor with this owner's services; node types and compiled templates are
        shared (building a registry checks every type's schema: milliseconds per run)."""
        platform = PlatformServices(self, owner_id, workspace_id)
        return WorkflowExecutor(
            self.checkpointer,
            registry=self.node_types,
            templates=self._validator.templates,
            services=platform.services(),
        )

    # ----------------------------------------------------------------- requests

    async def start(
        self,
        workflow: StoredWorkflow,
        inputs: dict[str, Any],
        *,
        version: int | None = None,
        owner_id: str | None,
        workspace_id: str | None,
    ) -> StoredRun:
        """Accept a run of ``version`` (default: the published one, else the draft)."""
        number = version if version is not None else workflow.published_version
        if number is not None:
            spec = (await self.s.workflows.version(workflow.id, number)).spec
        else:
            spec = workflow.spec
        return await self.start_spec(
            spec,
            inputs,
            workflow_id=workflow.id,
            version=number,
            owner_id=owner_id,
            workspace_id=workspace_id,
        )

    async def start_spec(
        self,
        spec: WorkflowSpec,
        inputs: dict[str, Any],
        *,
        workflow_id: str | None = None,
        version: int | None = None,
        owner_id: str | None = None,
        workspace_id: str | None = None,
    ) -> StoredRun:
        """Accept a run of ``spec`` itself (a stored version's, or one read from a file)."""
        plan = self.compile(spec)
        check_inputs(plan, inputs)
        self._check_size(inputs)
        run_id = new_id("run")
        run = await self.s.runs.create(
            run_id,
            agent_id=None,
            session_id=None,
            input=inputs,
            spec_snapshot=snapshot(spec, workflow_id, version),
            owner_id=owner_id,
            workspace_id=workspace_id,
            kind=WORKFLOW,
            workflow_id=workflow_id,
        )
        self._spawn(run_id, self._run(run_id, "start", writer=self.s.events.open_new(run_id)))
        return run

    async def retry(self, run: StoredRun) -> StoredRun:
        self._require_workflow(run)
        if run.status is not RunStatus.FAILED:
            raise ConflictError(f"run {run.id!r} is {run.status.value}; only failed runs retry")
        self._spawn(run.id, self._run(run.id, "retry"))
        return run

    async def rerun(
        self,
        run: StoredRun,
        from_node: str,
        *,
        inputs: dict[str, Any] | None,
        node_inputs: dict[str, Any] | None,
    ) -> StoredRun:
        """A new run reusing ``run``'s results upstream of ``from_node``."""
        self._require_workflow(run)
        if not run.status.is_final:
            raise ConflictError(f"run {run.id!r} is {run.status.value}; wait until it finishes")
        spec = WorkflowSpec.model_validate(run.spec_snapshot["spec"])
        plan = self.compile(spec)
        if from_node not in plan.nodes:
            raise InvalidInputError(f"the workflow has no node {from_node!r}", field="from_node")
        new_inputs = inputs if inputs is not None else run.input
        check_inputs(plan, new_inputs)
        self._check_size(new_inputs)
        run_id = new_id("run")
        created = await self.s.runs.create(
            run_id,
            agent_id=None,
            session_id=None,
            input=new_inputs,
            spec_snapshot=run.spec_snapshot,
            owner_id=run.owner_id,
            workspace_id=run.workspace_id,
            kind=WORKFLOW,
            workflow_id=run.workflow_id,
        )
        action = self._rerun(run.id, run_id, from_node, new_inputs, node_inputs)
        self._spawn(run_id, action)
        return created

    async def approve(
        self, run: StoredRun, node_id: str, *, approved: bool, comment: str | None, by: str
    ) -> StoredRun:
        self._require_workflow(run)
        if run.status is not RunStatus.WAITING:
            raise ConflictError(f"run {run.id!r} is {run.status.value}, not waiting")
        record = (await self.checkpointer.load_nodes(run.id)).get(node_id)
        if record is None or record.status is not NodeStatus.WAITING:
            raise ConflictError(f"node {node_id!r} of run {run.id!r} is not waiting for a decision")
        decision: dict[str, Any] = {"approved": approved, "by": by}
        if comment is not None:
            decision["comment"] = comment
        self._spawn(run.id, self._run(run.id, "resume", decisions={node_id: decision}))
        return run

    async def cancel(self, run: StoredRun) -> StoredRun:
        self._require_workflow(run)
        if run.status.is_final:
            raise ConflictError(f"run {run.id!r} already finished ({run.status.value})")
        executor = self._executors.get(run.id)
        if executor is not None:
            await executor.cancel(run.id)
        task = self._tasks.get(run.id)
        if task is not None:
            if executor is None:  # accepted but not handed to the engine yet
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        # Whatever is still unfinished (never started, or paused meanwhile) is closed here.
        await self._close_cancelled(run.id, "cancelled by request")
        # Sub-workflow runs executing inside the stopped node were interrupted like a crash
        # (they run in the parent's task): close them, and theirs, as cancelled too.
        await self._cancel_children(run.id)
        return await self.s.runs.get(run.id)

    async def _close_cancelled(self, run_id: str, message: str) -> None:
        error = {"code": "cancelled", "message": message}
        if await self.s.runs.finish(run_id, RunStatus.CANCELLED, error=error):
            writer = await self.s.events.open(run_id)
            writer.emit(ev.RUN_COMPLETED, {"status": "cancelled", "outputs": {}, "error": error})
            await writer.close()

    async def _cancel_children(self, parent_id: str) -> None:
        """Cancel every unfinished sub-workflow run started by ``parent_id``, depth first."""
        for child_id in await self._unfinished_children(parent_id):
            task = self._tasks.get(child_id)
            executor = self._executors.get(child_id)
            if executor is not None:
                await executor.cancel(child_id)
            if task is not None:
                await asyncio.gather(task, return_exceptions=True)
            await self._close_cancelled(child_id, f"parent run {parent_id} was cancelled")
            await self._cancel_children(child_id)

    async def _unfinished_children(self, parent_id: str) -> list[str]:
        unfinished = [s.value for s in RunStatus if not s.is_final]
        where = sa.and_(RunRow.kind == WORKFLOW, RunRow.status.in_(unfinished))
        children: list[str] = []
        offset = 0
        while True:
            runs, _ = await self.s.runs.list(where=where, offset=offset, limit=100)
            if not runs:
                return children
            offset += len(runs)
            children += [
                r.id
                for r in runs
                if r.spec_snapshot.get("depth", 0) > 0
                and r.spec_snapshot.get("parent_run_id") == parent_id
            ]

    async def wait(self, run_id: str) -> StoredRun:
        task = self._tasks.get(run_id)
        if task is not None:
            await asyncio.shield(task)
        return await self.s.runs.get(run_id)

    async def waiting(self, run_id: str) -> dict[str, dict[str, Any]]:
        """What a waiting run waits for: node id → its request."""
        state = await self.checkpointer.load_run(run_id)
        return state.waiting if state is not None else {}

    async def execute(self, run_id: str, *, fresh: bool) -> None:
        """Run ``run_id`` in the current task (sub-workflows): to its end, failure or pause."""
        await self._run(run_id, "start" if fresh else "resume")

    # ----------------------------------------------------------------- process life

    async def recover(self) -> int:
        """At start-up: resume every workflow run a dead process left queued or running."""
        count = 0
        where = RunRow.kind == WORKFLOW
        for status in (RunStatus.QUEUED, RunStatus.RUNNING):
            offset = 0
            while True:
                runs, _ = await self.s.runs.list(
                    where=where, status=status, offset=offset, limit=100
                )
                if not runs:
                    break
                offset += len(runs)
                for run in runs:
                    if run.id in self._tasks or run.spec_snapshot.get("depth", 0) > 0:
                        continue  # a sub-workflow resumes with its parent's node
                    if not await self.leases.acquire(run.id):
                        continue  # a live worker executes it
                    self._spawn(run.id, self._run(run.id, "resume"))
                    count += 1
        return count

    async def shutdown(self) -> None:
        """Stop every run like a crash would: nothing is recorded, the next start resumes."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.checkpointer.close()

    # ----------------------------------------------------------------- internals

    def _require_workflow(self, run: StoredRun) -> None:
        if run.kind != WORKFLOW:
            raise ConflictError(f"run {run.id!r} is an agent run; use /api/v1/runs/{{id}}/cancel")

    def _check_size(self, inputs: dict[str, Any]) -> None:
        limit = self.s.settings.max_run_input_chars
        if len(json.dumps(inputs)) > limit:
            raise InvalidInputError(f"input_data is larger than {limit} characters", field="input")

    def _spawn(self, run_id: str, work: Coroutine[Any, Any, None]) -> None:
        if run_id in self._tasks:
            raise ConflictError(f"run {run_id!r} is already executing")
        task = asyncio.get_running_loop().create_task(work, name=f"nexus-workflow-{run_id}")
        self._tasks[run_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(run_id, None))

    async def _rerun(
        self,
        source_id: str,
        run_id: str,
        from_node: str,
        inputs: dict[str, Any],
        node_inputs: dict[str, Any] | None,
    ) -> None:
        async def go(executor: WorkflowExecutor, plan: WorkflowPlan, writer: RunEventWriter):
            return await executor.rerun_from(
                plan,
                source_id,
                from_node,
                events=writer,
                inputs=inputs,
                node_inputs=node_inputs,
                run_id=run_id,
            )

        await self._drive(run_id, go, self.s.events.open_new(run_id))

    async def _run(
        self,
        run_id: str,
        action: str,
        *,
        writer: RunEventWriter | None = None,
        decisions: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        async def go(executor: WorkflowExecutor, plan: WorkflowPlan, writer: RunEventWriter):
            if action == "retry":
                return await executor.retry(plan, run_id, events=writer)
            return await executor.resume(plan, run_id, events=writer, decisions=decisions)

        if writer is None:
            writer = await self.s.events.open(run_id)
        await self._drive(run_id, go, writer)

    async def _drive(
        self,
        run_id: str,
        go: Callable[[WorkflowExecutor, WorkflowPlan, RunEventWriter], Awaitable[RunOutcome]],
        writer: RunEventWriter,
    ) -> None:
        run = await self.s.runs.get(run_id)
        if not await self.leases.acquire(run_id):
            log.info("workflow run %s is executed by another worker", run_id)
            await asyncio.shield(writer.close())
            return
        keeper = asyncio.get_running_loop().create_task(
            self.leases.keep(run_id, asyncio.current_task())  # type: ignore[arg-type]
        )
        executor = self.executor_for(run.owner_id, run.workspace_id)
        self._executors[run_id] = executor
        try:
            plan = self.plan_for(run.spec_snapshot["spec"])
            await go(executor, plan, writer)
        except asyncio.CancelledError:
            raise  # shutdown: leave the run resumable
        except ConflictError as exc:  # e.g. cancelled between acceptance and start
            log.info("workflow run %s not executed: %s", run_id, exc)
            run = await self.s.runs.get(run_id)
            if run.status.is_final:
                data = {"status": run.status.value, "outputs": {}, "error": run.error}
                writer.emit(ev.RUN_COMPLETED, data)
        except Exception as exc:  # an engine defect or a lost database: close the run
            log.exception("workflow run %s crashed", run_id)
            error = {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}
            if await self.s.runs.finish(run_id, RunStatus.FAILED, error=error):
                writer.emit(ev.RUN_FAILED, error)
                writer.emit(ev.RUN_COMPLETED, {"status": "failed", "outputs": {}, "error": error})
        finally:
            keeper.cancel()
            self._executors.pop(run_id, None)
            await asyncio.shield(writer.close())
            await asyncio.shield(self._release(run_id, keeper))

    async def _release(self, run_id: str, keeper: asyncio.Task[None]) -> None:
        await asyncio.gather(keeper, return_exceptions=True)
        try:
            await self.leases.release(run_id)
        except Exception:  # the lease then simply expires
            log.warning("could not release the lease of run %s", run_id, exc_info=True)
