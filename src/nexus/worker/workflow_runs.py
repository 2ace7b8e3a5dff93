"""Start, execute, cancel, retry, re-run, approve and recover workflow runs (inline dispatch).

A workflow run is a ``runs`` row with ``kind="workflow"``; its ``spec_snapshot`` holds the exact
spec it runs (``{"workflow_id", "version", "depth", "spec"}``), so editing or publishing the
workflow later never changes a run. Everything is checked (spec compiles, inputs match the
schema) before the row is inserted ``queued``; an asyncio task then drives the engine's
``WorkflowExecutor`` over the SQL checkpointer, writing events to the same ``RunEventLog`` as agent
runs (so ``GET /api/v1/runs/{id}/events`` streams them unchanged).

Crash recovery: a run left ``queued`` or ``running`` by a dead process is *resumed* at start-up —
completed nodes are replayed from their checkpoints, the interrupted node runs again with the
same attempt (so the same idempotency key ``run_id:node_id:attempt``). ``waiting`` runs need
nothing: their state is in the database and an approval resumes them.

Several worker processes may share one database: a run is executed only by the process holding
its lease (``RunLeases``), so recovery in one process never runs a run another live process is
executing, and a run whose worker died is taken over (at once on the same host, after the lease
expires elsewhere).

The engine's services come from ``platform_services``, the leases from ``run_leases``, the
snapshot a run row records from ``workflow_snapshots``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import sqlalchemy as sa

from nexus.core import events as ev
from nexus.core.errors import (
    ConflictError,
    InvalidInputError,
)
from nexus.core.ids import new_id
from nexus.core.status import RunStatus
from nexus.engine.checkpoints import NodeStatus
from nexus.engine.executor import RunOutcome, WorkflowExecutor
from nexus.engine.plan import WorkflowPlan
from nexus.engine.spec import WorkflowSpec
from nexus.store.checkpointer import SqlCheckpointer
from nexus.store.event_log import RunEventWriter
from nexus.store.run_repository import StoredRun
from nexus.store.tables import RunRow
from nexus.store.workflow_repository import StoredWorkflow
from nexus.worker.agent_runs import AgentRunner
from nexus.worker.platform_services import PlatformServices
from nexus.worker.run_leases import LEASE_TTL_S, RunLeases
from nexus.worker.services import RunServices
from nexus.worker.workflow_snapshots import WORKFLOW, check_inputs, snapshot

log = logging.getLogger(__name__)

PLAN_CACHE = 64
"""Compiled plans kept per ``WorkflowRuns`` (by spec digest)."""


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
        task = self._tasks.get(run.id)
        if executor is None and task is None and await self.leases.held_elsewhere(run.id):
            # Another worker executes it: mark the row; that worker sees it within about a
            # second, stops and writes the run's last events (``RunLeases.keep``).
            error = {"code": "cancelled", "message": "cancelled by request"}
            await self.s.runs.finish(run.id, RunStatus.CANCELLED, error=error)
            return await self.s.runs.get(run.id)
        if executor is not None:
            await executor.cancel(run.id)
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
            if run_id not in self.leases.finished_elsewhere:
                raise  # shutdown or a lost lease: leave the run resumable
            # Cancelled through another worker: its row is final; close the log from here.
            self.leases.finished_elsewhere.discard(run_id)
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            run = await self.s.runs.get(run_id)
            data = {"status": run.status.value, "outputs": {}, "error": run.error}
            writer.emit(ev.RUN_COMPLETED, data)
            await asyncio.shield(writer.close())
            await self._cancel_children(run_id)
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
