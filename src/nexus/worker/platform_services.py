"""The engine's ``Services`` wired to the platform: models, agents, tools, HTTP, code in the
sandbox and sub-workflows, for the runs of one owner in one workspace (their keys, their
workspace's objects)."""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from agents import Agent, RunConfig, Runner
from agents.stream_events import RawResponsesStreamEvent

from nexus.agents.output_schema import JsonSchemaOutput
from nexus.agents.runner import run_agent
from nexus.core import events as ev
from nexus.core.errors import (
    NexusError,
    NotFoundError,
    RunError,
    ToolError,
)
from nexus.core.events import RunEvent
from nexus.core.sandbox_types import ExecRequest, SandboxUnavailableError
from nexus.core.status import RunStatus
from nexus.core.usage import RunUsage
from nexus.engine.http_client import HttpRequester
from nexus.engine.services import ModelAnswer, Services, TokenCallback
from nexus.tools.http_fetch import HttpFetcher
from nexus.tools.registry import invoke_tool
from nexus.worker.workflow_snapshots import WORKFLOW, check_inputs, snapshot

if TYPE_CHECKING:
    from nexus.worker.workflow_runs import WorkflowRuns

log = logging.getLogger(__name__)


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
        compiled = await runner.compile(bundle, self.owner_id, self.workspace_id)
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
    ) -> ModelAnswer:
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
        return ModelAnswer(dict(run.output or {}), usage=RunUsage.from_dict(run.usage))
