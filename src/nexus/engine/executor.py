"""The workflow executor: an event-driven ready queue over a compiled plan.

There are no supersteps. A node starts the moment its inputs are settled: every incoming edge
has either delivered a value or been skipped (a ``first``-trigger node starts on the first value).
Each ready node runs in its own asyncio task, except that a task which finishes a node continues
with one of the nodes it made ready (the others get new tasks), so a chain costs no task hops.

Routing: the output ports present in a result fire; edges from the other ports are skipped. A
node none of whose incoming edges fired is skipped too, and the skip flows on, so a branch that
was not taken ends quietly while a node also reachable another way still runs.

Durability: a node's ``running`` record (with its attempt) is saved before it starts, and its
``completed`` record before any successor starts. Resuming a run replays completed records
without re-running them; an interrupted node runs again with the same attempt, so its
idempotency key ``run_id:node_id:attempt`` is unchanged. A retry of a failed run continues from
the failed node with the next attempt. ``rerun_from`` copies another run's results up to a node.

Token usage: a node's model calls add their usage to its context; the node's completed (or
failed) record keeps it, ``node_completed`` carries it, and the run's total (the sum over its
node records, replayed ones included) is saved with the run and sent with ``run_completed``
(all three only when a model was called).
Records a re-run copies from another run keep no usage (those tokens were that run's).

Cancelling the task that awaits a run is treated like a crash (nothing is saved, so the run can be
resumed); ``cancel(run_id)`` is the deliberate stop, which records ``cancelled``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from typing import Any

from nexus.core import events as ev
from nexus.core.errors import (
    ConflictError,
    InvalidInputError,
    LimitExceededError,
    NexusError,
    NotFoundError,
)
from nexus.core.events import EventSink
from nexus.core.ids import new_id
from nexus.core.status import RunStatus
from nexus.core.usage import RunUsage
from nexus.engine.checkpoints import Checkpointer, NodeRecord, NodeStatus, RunState
from nexus.engine.context import NodeContext
from nexus.engine.nodes.registry import NodeResult, NodeTypeRegistry, default_node_types
from nexus.engine.payload import check_payload
from nexus.engine.plan import PlannedNode, WorkflowPlan
from nexus.engine.services import Services
from nexus.engine.spec import ERROR_PORT, WorkflowSpec
from nexus.engine.templates import TemplateEngine
from nexus.engine.validation import compile_workflow

INLINE_YIELD_EVERY = 32
"""A task running a chain yields to the loop this often, so long CPU-only chains stay fair."""


@dataclass(slots=True)
class RunOutcome:
    run_id: str
    status: RunStatus
    outputs: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    waiting: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Waiting node id → its request (status ``waiting``)."""
    steps: int = 0


def error_body(exc: BaseException, node_id: str | None = None) -> dict[str, Any]:
    if isinstance(exc, NexusError):
        body: dict[str, Any] = {"code": exc.code, "message": exc.message}
    elif isinstance(exc, TimeoutError):
        body = {"code": "timeout", "message": "The node took longer than its policy.timeout_s."}
    else:
        body = {"code": "node_error", "message": f"{type(exc).__name__}: {exc}"}
    if node_id is not None:
        body["node"] = node_id
    return body


class WorkflowExecutor:
    """Runs compiled workflows; one per process, shared by all runs."""

    def __init__(
        self,
        checkpointer: Checkpointer,
        *,
        registry: NodeTypeRegistry | None = None,
        services: Services | None = None,
        templates: TemplateEngine | None = None,
        status_interval_s: float = 0.25,
    ) -> None:
        self.checkpointer = checkpointer
        self.registry = registry if registry is not None else default_node_types()
        self.services = services if services is not None else Services()
        self.templates = templates if templates is not None else TemplateEngine()
        self.status_interval_s = status_interval_s
        self._active: dict[str, _Run] = {}

    def compile(self, spec: WorkflowSpec) -> WorkflowPlan:
        """Validate ``spec`` against this executor's node types (``InvalidInputError``)."""
        return compile_workflow(spec, self.registry, self.templates)

    async def start(
        self,
        plan: WorkflowPlan,
        inputs: dict[str, Any],
        *,
        events: EventSink,
        run_id: str | None = None,
        depth: int = 0,
    ) -> RunOutcome:
        """Run ``plan`` from the beginning (until it finishes, fails or waits)."""
        run_id = run_id if run_id is not None else new_id("run")
        if await self.checkpointer.load_run(run_id) is not None:
            raise ConflictError(f"Run {run_id} already exists; resume it instead.")
        check_inputs(plan, inputs)
        state = RunState(run_id, RunStatus.RUNNING, inputs, depth=depth)
        return await self._execute(plan, state, {}, events)

    async def resume(
        self,
        plan: WorkflowPlan,
        run_id: str,
        *,
        events: EventSink,
        decisions: dict[str, dict[str, Any]] | None = None,
    ) -> RunOutcome:
        """Continue an interrupted or waiting run; ``decisions`` answer waiting nodes."""
        state = await self._load(run_id)
        if state.status not in (RunStatus.RUNNING, RunStatus.QUEUED, RunStatus.WAITING):
            raise ConflictError(
                f"Run {run_id} is {state.status}; only running or waiting runs resume."
            )
        records = await self.checkpointer.load_nodes(run_id)
        for node_id in decisions or {}:
            record = records.get(node_id)
            if record is None or record.status is not NodeStatus.WAITING:
                raise ConflictError(
                    f"Node {node_id!r} of run {run_id} is not waiting for a decision."
                )
        return await self._execute(plan, state, records, events, decisions=decisions)

    async def retry(self, plan: WorkflowPlan, run_id: str, *, events: EventSink) -> RunOutcome:
        """Retry a failed run from its failed node(s); completed nodes are not run again."""
        state = await self._load(run_id)
        if state.status is not RunStatus.FAILED:
            raise ConflictError(
                f"Run {run_id} is {state.status}; only a failed run can be retried."
            )
        records = await self.checkpointer.load_nodes(run_id)
        return await self._execute(plan, state, records, events)

    async def rerun_from(
        self,
        plan: WorkflowPlan,
        source_run_id: str,
        node_id: str,
        *,
        events: EventSink,
        inputs: dict[str, Any] | None = None,
        node_inputs: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> RunOutcome:
        """A new run that reuses ``source_run_id``'s results of every node not downstream of
        ``node_id`` and runs ``node_id`` and its descendants again, with edited workflow
        ``inputs`` and/or values on ``node_id``'s input ports (``node_inputs``)."""
        source = await self._load(source_run_id)
        if not source.status.is_final:
            raise ConflictError(f"Run {source_run_id} is {source.status}; wait until it finishes.")
        if node_id not in plan.nodes:
            raise NotFoundError(f"Workflow has no node {node_id!r}.", field="node_id")
        new_inputs = inputs if inputs is not None else source.inputs
        check_inputs(plan, new_inputs)
        again = plan.descendants(node_id)
        kept = {
            nid: replace(record, usage=None)
            for nid, record in (await self.checkpointer.load_nodes(source_run_id)).items()
            if nid not in again
        }
        run_id = run_id if run_id is not None else new_id("run")
        for record in kept.values():
            await self.checkpointer.save_node(run_id, record)
        state = RunState(run_id, RunStatus.RUNNING, new_inputs, depth=source.depth)
        overrides = {node_id: node_inputs} if node_inputs is not None else None
        return await self._execute(plan, state, kept, events, node_inputs=overrides)

    async def cancel(self, run_id: str) -> bool:
        """Stop a run (running here, or waiting); ``False`` if it had already finished."""
        run = self._active.get(run_id)
        if run is not None:
            run.cancel()
            return True
        state = await self._load(run_id)
        if state.status.is_final:
            return False
        state.status = RunStatus.CANCELLED
        await self.checkpointer.save_run(state)
        return True

    async def _load(self, run_id: str) -> RunState:
        state = await self.checkpointer.load_run(run_id)
        if state is None:
            raise NotFoundError(f"No run {run_id}.", field="run_id")
        return state

    async def _execute(
        self,
        plan: WorkflowPlan,
        state: RunState,
        records: dict[str, NodeRecord],
        events: EventSink,
        *,
        decisions: dict[str, dict[str, Any]] | None = None,
        node_inputs: dict[str, dict[str, Any]] | None = None,
    ) -> RunOutcome:
        if state.run_id in self._active:
            raise ConflictError(f"Run {state.run_id} is already executing.")
        run = _Run(self, plan, state, records, events, decisions or {}, node_inputs or {})
        self._active[state.run_id] = run
        try:
            return await run.execute()
        finally:
            del self._active[state.run_id]


def check_inputs(plan: WorkflowPlan, inputs: dict[str, Any], *, field: str = "inputs") -> None:
    """``InvalidInputError`` naming every input that does not match the workflow's schema
    (``field`` prefixes each path: the API calls the inputs ``input_data``)."""
    if plan.inputs_any_object and type(inputs) is dict:
        return
    errors = list(plan.inputs_validator.iter_errors(inputs))
    if errors:
        details = [
            {
                "node": None,
                "field": field + "".join(f".{p}" for p in e.absolute_path),
                "message": e.message,
            }
            for e in errors
        ]
        first = details[0]
        raise InvalidInputError(
            f"Workflow inputs are invalid: {first['field']}: {first['message']}",
            field=str(first["field"]),
            details=details,
        )


class _Run:
    """The state of one execution of a plan."""

    def __init__(
        self,
        executor: WorkflowExecutor,
        plan: WorkflowPlan,
        state: RunState,
        records: dict[str, NodeRecord],
        events: EventSink,
        decisions: dict[str, dict[str, Any]],
        node_inputs: dict[str, dict[str, Any]],
    ) -> None:
        self.ex = executor
        self.cp = executor.checkpointer
        self.plan = plan
        self.nodes = plan.nodes
        self.state = state
        self.run_id = state.run_id
        self.records = records
        self.emit = events.emit
        self.decisions = decisions
        self.node_inputs = node_inputs
        self.limits = plan.spec.limits
        self.pending = {nid: n.in_degree for nid, n in plan.nodes.items()}
        self.arrived: dict[str, dict[str, Any]] = {}
        self.triggered: dict[str, dict[str, Any]] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self.waiting: dict[str, dict[str, Any]] = {}
        self.current: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.active = 0
        self.steps = 0
        self.settled = 0
        self.error: dict[str, Any] | None = None
        self.usage = RunUsage()
        """The run's tokens so far: replayed records and nodes run here."""
        self.cancelled = False
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.last_status = 0.0
        self.main = asyncio.current_task()
        """The task executing the run; it drives the first source's chain itself."""
        self.inline = False
        self.interrupting = False

    # ----------------------------------------------------------------- the run as a whole

    async def execute(self) -> RunOutcome:
        self.state.status = RunStatus.RUNNING
        await self.cp.save_run(self.state)
        self._status(RunStatus.RUNNING)
        deadline = asyncio.get_running_loop().call_later(
            self.limits.max_run_time_s, self._over_time
        )
        try:
            sources = self.plan.sources
            if sources:
                # The first source runs in this task (no task to create and wake up for a
                # chain); the others get tasks. A stop while this task is inside a node
                # interrupts it with ``_interrupt``.
                self._launch(sources[1:])
                self.active += 1
                self.inline = True
                try:
                    await self._drive(sources[0])
                except asyncio.CancelledError:
                    if not self._uncancel():
                        raise
                else:
                    self._uncancel()
                finally:
                    self.inline = False
            if self.active == 0 and not self.done.done():
                self.done.set_result(None)
            await self.done
        except asyncio.CancelledError:
            await self._stop_tasks()  # a crash: save nothing, the run stays resumable
            raise
        finally:
            deadline.cancel()
        await self._stop_tasks()
        return await self._finish()

    def _interrupt(self) -> None:
        """The run ended (stop, failure elsewhere, time limit) while the executing task may be
        inside a node of the inline chain: cancel that node, the way ``_stop_tasks`` cancels
        the other tasks."""
        if self.inline and not self.interrupting and self.main is not asyncio.current_task():
            self.interrupting = True
            self.main.cancel()

    def _uncancel(self) -> bool:
        """Withdraw our own ``_interrupt``; ``False`` when another cancellation (a crash, the
        caller's) is pending too and must propagate."""
        if not self.interrupting:
            return False
        self.interrupting = False
        return self.main.uncancel() == 0

    async def _finish(self) -> RunOutcome:
        if self.cancelled:
            status = RunStatus.CANCELLED
        elif self.error is not None:
            status = RunStatus.FAILED
        elif self.waiting:
            status = RunStatus.WAITING
        else:
            status = RunStatus.SUCCEEDED
        outputs = {
            name: self.results[nid].get("output")
            for name, nid in self.plan.outputs.items()
            if nid in self.results
        }
        state = self.state
        state.status, state.outputs, state.error = status, outputs, self.error
        state.waiting = dict(self.waiting)
        usage = self.usage.to_dict(totals=True) if self.usage.by_model else None
        state.usage = usage
        await self.cp.save_run(state)
        self._status(status)
        if status is RunStatus.FAILED:
            self.emit(ev.RUN_FAILED, dict(self.error or {}))
        if status.is_final:
            data = {"status": status.value, "outputs": outputs, "error": self.error}
            if usage is not None:
                data["usage"] = usage
            self.emit(ev.RUN_COMPLETED, data)
        return RunOutcome(self.run_id, status, outputs, self.error, dict(self.waiting), self.steps)

    def _status(self, status: RunStatus) -> None:
        self.last_status = time.monotonic()
        total = len(self.nodes)
        self.emit(
            ev.WORKFLOW_STATUS,
            {
                "status": status.value,
                "progress": self.settled / total if total else 1.0,
                "current_nodes": sorted(self.current),
            },
        )

    def cancel(self) -> None:
        if not self.done.done():
            self.cancelled = True
            self.done.set_result(None)
            self._interrupt()

    def _fail(self, error: dict[str, Any]) -> None:
        if self.error is None and not self.cancelled:
            self.error = error
        if not self.done.done():
            self.done.set_result(None)
            self._interrupt()

    def _over_time(self) -> None:
        limit = self.limits.max_run_time_s
        exc = LimitExceededError(
            f"Run took longer than limits.max_run_time_s ({limit}s); raise the limit."
        )
        self._fail(error_body(exc))

    async def _stop_tasks(self) -> None:
        current = asyncio.current_task()
        tasks = [t for t in self.tasks if t is not current and not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _count_step(self) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise LimitExceededError(
                f"Run exceeded limits.max_steps ({self.limits.max_steps} node executions); "
                "raise the limit or reduce loop sizes and retries."
            )

    # ----------------------------------------------------------------- scheduling

    def _launch(self, node_ids: list[str]) -> None:
        if not node_ids:
            return
        create_task = asyncio.get_running_loop().create_task
        for nid in node_ids:
            self.active += 1
            self.tasks.add(create_task(self._drive(nid)))

    async def _drive(self, nid: str | None) -> None:
        inline = 0
        try:
            while nid is not None and not self.done.done():
                ready = await self._run_node(self.nodes[nid])
                if not ready:
                    break
                nid = ready[0]
                if len(ready) > 1:
                    self._launch(ready[1:])
                inline += 1
                if inline % INLINE_YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an engine defect or a checkpointer failure
            self._fail(error_body(exc, nid))
        finally:
            self.tasks.discard(asyncio.current_task())  # type: ignore[arg-type]
            self.active -= 1
            if self.active == 0 and not self.done.done():
                self.done.set_result(None)

    def _settle(self, node: PlannedNode, outputs: dict[str, Any]) -> list[str]:
        """Deliver a finished node's outputs; returns the nodes that became ready."""
        ready: list[str] = []
        work = [(t, tp, p in outputs, outputs.get(p)) for p, t, tp in node.out_edges]
        work.reverse()
        nodes, pending, arrived = self.nodes, self.pending, self.arrived
        while work:
            target, port, fired, value = work.pop()
            planned = nodes[target]
            if fired:
                got = arrived.get(target)
                if got is None:
                    arrived[target] = {port: value}
                else:
                    got[port] = value
                if planned.first and target not in self.triggered:
                    self.triggered[target] = {port: value}
                    ready.append(target)
            left = pending[target] - 1
            pending[target] = left
            if left:
                continue
            if planned.first:
                if target in self.triggered:
                    continue
            elif target in arrived:
                ready.append(target)
                continue
            self.settled += 1
            self.emit(ev.NODE_SKIPPED, {"node_id": target})
            work.extend((t, tp, False, None) for _, t, tp in reversed(planned.out_edges))
        return ready

    # ----------------------------------------------------------------- one node

    async def _run_node(self, node: PlannedNode) -> list[str]:
        nid = node.id
        record = self.records.get(nid)
        attempt = 1
        decision = None
        spent = None
        if record is not None:
            status = record.status
            if status is NodeStatus.COMPLETED:
                outputs = record.outputs or {}
                if record.usage:
                    self.usage.merge(RunUsage.from_dict(record.usage))
                self.results[nid] = outputs
                self.settled += 1
                return self._settle(node, outputs)
            attempt = record.attempt + 1 if status is NodeStatus.FAILED else record.attempt
            spent = record.usage  # tokens of its earlier attempts (a failed run, a wait)
            if status is NodeStatus.WAITING:
                decision = self.decisions.get(nid)
                if decision is None:
                    self.waiting[nid] = record.waiting or {}
                    return []
        inputs = self.triggered.get(nid) if node.first else self.arrived.get(nid)
        inputs = {} if inputs is None else inputs
        override = self.node_inputs.get(nid)
        if override is not None:
            inputs = {**inputs, **override}
        result = await self._attempts(node, inputs, attempt, decision, spent)
        if result is None:
            return []
        if result.waiting is not None:
            self.waiting[nid] = result.waiting
            self.emit(ev.NODE_WAITING, {"node_id": nid, "request": result.waiting})
            return []
        outputs = result.outputs
        self.results[nid] = outputs
        self.settled += 1
        if time.monotonic() - self.last_status >= self.ex.status_interval_s:
            self._status(RunStatus.RUNNING)
        return self._settle(node, outputs)

    async def _attempts(
        self,
        node: PlannedNode,
        inputs: dict[str, Any],
        attempt: int,
        decision: dict[str, Any] | None,
        spent: dict[str, Any] | None = None,
    ) -> NodeResult | None:
        """Run the node under its policy; ``None`` when the run fails because of it."""
        nid, policy, save, emit = node.id, node.policy, self.cp.save_node, self.emit
        usage = RunUsage.from_dict(spent) if spent else RunUsage()
        while True:
            await save(self.run_id, NodeRecord(nid, NodeStatus.RUNNING, attempt))
            emit(ev.NODE_STARTED, {"node_id": nid, "type": node.type.name, "attempt": attempt})
            self.current.add(nid)
            started = time.perf_counter()
            try:
                self._count_step()
                scope = {"inputs": self.state.inputs, "nodes": self.results, "input": inputs}
                props = node.properties if node.render is None else node.render(scope)
                ctx = NodeContext(
                    self.run_id,
                    nid,
                    attempt,
                    self.ex.services,
                    self.ex.templates,
                    self.ex.registry,
                    self.limits,
                    scope,
                    emit,
                    self._count_step,
                    self.state.depth,
                    decision,
                    usage,
                )
                if policy.timeout_s is None:
                    result = await node.type.run(ctx, inputs, props)
                else:
                    async with asyncio.timeout(policy.timeout_s):
                        result = await node.type.run(ctx, inputs, props)
                check_payload(result.outputs, self.limits.max_payload_bytes, nid)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = error_body(exc, nid)
                fatal = isinstance(exc, LimitExceededError)
                retry = not fatal and attempt <= policy.retries
                emit(
                    ev.NODE_FAILED,
                    {"node_id": nid, "attempt": attempt, "error": error, "will_retry": retry},
                )
                used = usage.to_dict(totals=True) if usage.by_model else None
                await save(
                    self.run_id,
                    NodeRecord(nid, NodeStatus.FAILED, attempt, error=error, usage=used),
                )
                if retry:
                    self.current.discard(nid)
                    await asyncio.sleep(policy.backoff_s * 2 ** (attempt - 1))
                    attempt += 1
                    continue
                if fatal or policy.on_error == "fail":
                    self.current.discard(nid)
                    self.usage.merge(usage)
                    self._fail(error)
                    return None
                if policy.on_error == "continue":
                    default = policy.default
                    ports = [p for p in node.output_ports if p != ERROR_PORT]
                    result = NodeResult(dict.fromkeys(ports, default))
                else:
                    result = NodeResult({ERROR_PORT: error})
            finally:
                self.current.discard(nid)
            elapsed = (time.perf_counter() - started) * 1000
            used = usage.to_dict(totals=True) if usage.by_model else None
            if result.waiting is not None:
                record = NodeRecord(
                    nid, NodeStatus.WAITING, attempt, waiting=result.waiting, usage=used
                )
                await save(self.run_id, record)
                return result
            outputs = result.outputs
            await save(
                self.run_id,
                NodeRecord(
                    nid, NodeStatus.COMPLETED, attempt, outputs, duration_ms=elapsed, usage=used
                ),
            )
            data = {"node_id": nid, "result": outputs, "execution_time": elapsed}
            if used is not None:
                self.usage.merge(usage)
                data["usage"] = used
            emit(ev.NODE_COMPLETED, data)
            return result
