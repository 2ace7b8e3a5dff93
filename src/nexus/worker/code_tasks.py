"""Code tasks: the code agent's auto-fix loop, as runs of kind ``code_task``.

A task asks a model for a program, saves it into a code project (every save a new version
authored by the agent), runs it — or its ``test_command`` — in the sandbox, and on failure sends
the exit code and error output back and asks for a fix: a whole file, or a unified diff applied
by ``code_replies.apply_patch``. It stops at the first success, when ``max_attempts`` or the token
budget is spent, or early when the same (normalised) error comes back twice in a row.

Every attempt is a ``code_attempt`` run event (files and versions, diff, stdout, stderr, exit
code, error), so a person can review each step; the run's output says whether it succeeded, after
how many attempts, and which versions it ended on. Runs live in the ``runs`` table with their
events in the event log, so ``/api/v1/runs/{id}`` and its SSE stream work unchanged, and
``POST /api/v1/runs/{id}/cancel`` cancels them (the task is registered with the agent runner).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

from agents import Agent, ModelSettings, RunConfig, Runner

from nexus.core import events as ev
from nexus.core.errors import InvalidInputError, NexusError, ProviderError
from nexus.core.ids import new_id
from nexus.core.sandbox_types import (
    ExecRequest,
    ExecResult,
    Sandbox,
    SandboxLimitError,
    SandboxUnavailableError,
)
from nexus.core.status import RunStatus
from nexus.store.code_projects import FileVersion, check_path
from nexus.store.event_log import RunEventWriter
from nexus.store.run_repository import StoredRun
from nexus.store.tables import RunRow
from nexus.worker.agent_runs import AgentRunner
from nexus.worker.code_replies import PatchError, apply_patch, parse_reply
from nexus.worker.services import RunServices

log = logging.getLogger(__name__)

CODE_TASK = "code_task"
DEFAULT_TOKEN_BUDGET = 20_000
MAX_TOKEN_BUDGET = 1_000_000
MAX_PROMPT_CHARS = 8_000
FEEDBACK_CHARS = 1_500
"""How much of stderr/stdout goes back to the model (the end, where the error is)."""
EVENT_TEXT_CHARS = 20_000
ENTRY = {"python": "main.py", "bash": "main.sh"}
FENCE = {"python": "python", "bash": "bash"}
LANGUAGE_NAMES = {"python": "Python", "bash": "Bash"}

StopReason = Literal["succeeded", "max_attempts", "repeated_error", "token_budget"]


@dataclass(frozen=True)
class CodeTaskRequest:
    prompt: str
    language: Literal["python", "bash"] = "python"
    max_attempts: int = 3
    model: str | None = None
    """``provider:model``; default: the instance's default model."""
    project_id: str | None = None
    """Write into this project (the caller must be allowed to edit it); default: a new one."""
    entry: str | None = None
    """The file that is run (default ``main.py`` / ``main.sh``)."""
    test_command: str | None = None
    """A bash command run in the project instead of the entry file (e.g. ``python3 test_x.py``)."""
    token_budget: int = DEFAULT_TOKEN_BUDGET
    timeout_s: float | None = None
    expect_output: str | None = None
    """Success also needs stdout to contain this text (compared case-insensitively)."""
    """Sandbox wall-clock limit per attempt (default: the sandbox's)."""

    def check(self) -> None:
        if not self.prompt.strip():
            raise InvalidInputError("prompt is empty", field="prompt")
        if len(self.prompt) > MAX_PROMPT_CHARS:
            raise InvalidInputError(
                f"prompt is longer than {MAX_PROMPT_CHARS} characters", field="prompt"
            )
        if self.language not in ENTRY:
            raise InvalidInputError("language must be 'python' or 'bash'", field="language")
        if not 1 <= self.max_attempts <= 10:
            raise InvalidInputError("max_attempts must be between 1 and 10", field="max_attempts")
        if not 1 <= self.token_budget <= MAX_TOKEN_BUDGET:
            raise InvalidInputError(
                f"token_budget must be between 1 and {MAX_TOKEN_BUDGET}", field="token_budget"
            )
        if self.entry is not None:
            try:
                check_path(self.entry)
            except InvalidInputError as exc:
                raise InvalidInputError(exc.message, field="entry") from None
        if self.expect_output is not None and not self.expect_output.strip():
            raise InvalidInputError("expect_output is empty", field="expect_output")
        if self.test_command is not None and not self.test_command.strip():
            raise InvalidInputError("test_command is empty", field="test_command")


@dataclass
class _Attempt:
    number: int
    error: str | None = None
    """Normalised error (what "the same error" compares), ``None`` on success."""
    feedback: str = ""
    """What the next prompt tells the model about this attempt."""


_NOISE = (
    (re.compile(r"0x[0-9a-fA-F]+"), "0x?"),
    (re.compile(r'File "[^"]*"'), 'File "?"'),
    (re.compile(r"line \d+"), "line ?"),
    (re.compile(r"\d+"), "0"),
    (re.compile(r"[ \t]+"), " "),
)


def normalise_error(text: str) -> str:
    """The parts of an error that stay the same when only line numbers, addresses, paths or
    counts move: its last non-empty lines with those masked."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    tail = "\n".join(lines[-3:])
    for pattern, replacement in _NOISE:
        tail = pattern.sub(replacement, tail)
    return tail


RUNNER_FRAME = re.compile(r'^  File "(/run/nexus/[^"]*|<frozen runpy>)", line \d+')


def without_runner_frames(stderr: str) -> str:
    """A traceback without the frames of the script that runs the entry file (``runpy``), so
    the model sees only its own code."""
    out: list[str] = []
    skip_source = False
    for line in stderr.splitlines(keepends=True):
        if RUNNER_FRAME.match(line):
            skip_source = True
            continue
        if skip_source and line.startswith("    "):
            continue
        skip_source = False
        out.append(line)
    return "".join(out)


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


def _fenced(text: str, language: str = "") -> str:
    return f"```{language}\n{text.rstrip()}\n```"


class CodeTasks:
    """Code tasks of this process (one per app)."""

    def __init__(
        self, services: RunServices, runner: AgentRunner, sandbox: Sandbox | None = None
    ) -> None:
        self.s = services
        self.runner = runner
        self.sandbox: Sandbox | None = sandbox if sandbox is not None else services.sandbox
        self.projects = services.code_projects

    # ----------------------------------------------------------------- requests

    async def start(
        self,
        request: CodeTaskRequest,
        *,
        owner_id: str | None,
        workspace_id: str | None,
    ) -> StoredRun:
        """Check everything, insert the run ``queued`` (and a project if none was given), and
        start the loop in the background. The caller has checked access to ``project_id``."""
        request.check()
        sandbox = self._require_sandbox()
        ceilings = getattr(getattr(sandbox, "config", None), "ceilings", None)
        if request.timeout_s is not None and ceilings is not None:
            if request.timeout_s > ceilings.timeout_s:
                raise SandboxLimitError(
                    f"timeout_s must be at most {ceilings.timeout_s:g} (the admin ceiling)",
                    field="timeout_s",
                )
        model_id = request.model if request.model is not None else self.s.settings.default_model
        try:
            self.s.providers.check_model(model_id)
        except InvalidInputError as exc:
            raise type(exc)(exc.message, field="model") from None
        await self._model(model_id, owner_id, workspace_id)  # a missing key fails here, not later
        run_id = new_id("run")
        project_id = request.project_id
        if project_id is None:
            project = await self.projects.create(
                f"code task {run_id}",
                owner_id=owner_id,
                workspace_id=workspace_id,
                visibility="private",
            )
            project_id = project.id
        entry = request.entry if request.entry is not None else ENTRY[request.language]
        run = await self.s.runs.create(
            run_id,
            agent_id=None,
            session_id=None,
            input={k: v for k, v in asdict(request).items() if v is not None},
            spec_snapshot={"project_id": project_id, "model": model_id, "entry": entry},
            owner_id=owner_id,
            workspace_id=workspace_id,
            kind=CODE_TASK,
        )
        writer = self.s.events.open_new(run_id)
        work = self._execute(run_id, request, model_id, project_id, entry, writer)
        task = asyncio.get_running_loop().create_task(work, name=f"nexus-code-task-{run_id}")
        # Registered with the agent runner so /runs/{id}/cancel, wait and shutdown reach it.
        self.runner.track(run_id, task)
        return run

    async def wait(self, run_id: str) -> StoredRun:
        return await self.runner.wait(run_id)

    async def recover(self) -> int:
        """At start-up: code tasks a dead process left queued or running end as failed (their
        saved versions stay; a new task can continue from them)."""
        error = {
            "code": "interrupted",
            "message": "interrupted: the server stopped during the task",
        }
        count = 0
        for status in (RunStatus.QUEUED, RunStatus.RUNNING):
            while True:
                runs, _ = await self.s.runs.list(
                    where=RunRow.kind == CODE_TASK, status=status, limit=100
                )
                runs = [r for r in runs if not self.runner.is_live(r.id)]
                if not runs:
                    break
                for run in runs:
                    if await self.s.runs.finish(run.id, RunStatus.FAILED, error=error):
                        writer = await self.s.events.open(run.id)
                        data = {"status": "failed", "output": None, "error": error}
                        writer.emit(ev.RUN_COMPLETED, data)
                        await writer.close()
                        count += 1
        return count

    # ----------------------------------------------------------------- the loop

    def _require_sandbox(self) -> Sandbox:
        sandbox = self.sandbox
        if sandbox is None or getattr(sandbox, "available", True) is False:
            raise SandboxUnavailableError(
                "code execution is disabled: bubblewrap is missing or failed its self-test; "
                "install it (apt-get install bubblewrap) and restart"
            )
        return sandbox

    async def _model(self, model_id: str, owner_id: str | None, workspace_id: str | None) -> Any:
        provider = model_id.partition(":")[0]
        key = None
        if self.s.vault is not None:
            try:
                needs_key = self.s.providers.requires_key(provider)
            except NexusError:
                needs_key = False
            if needs_key:
                key = await self.s.vault.resolve(
                    provider, user_id=owner_id, workspace_id=workspace_id
                )
        return self.s.providers.get_model(model_id, api_key=key)

    async def _execute(
        self,
        run_id: str,
        request: CodeTaskRequest,
        model_id: str,
        project_id: str,
        entry: str,
        writer: RunEventWriter,
    ) -> None:
        status = RunStatus.FAILED
        output: dict[str, Any] | None = None
        error: dict[str, Any] | None = None
        loop: _Loop | None = None
        try:
            if not await self.s.runs.mark_running(run_id):
                status = RunStatus.CANCELLED
                error = {"code": "cancelled", "message": "cancelled before it started"}
                return
            run = await self.s.runs.get(run_id)
            writer.emit(
                ev.RUN_STARTED,
                {"kind": CODE_TASK, "project_id": project_id, "model": model_id, "entry": entry},
            )
            model = await self._model(model_id, run.owner_id, run.workspace_id)
            loop = _Loop(self, run_id, request, model, project_id, entry, writer)
            output = await loop.run()
            if output["success"]:
                status = RunStatus.SUCCEEDED
            else:
                error = {
                    "code": "code_task_failed",
                    "message": f"no working program after {output['attempts']} attempt(s): "
                    f"{output['stop_reason']}",
                }
                writer.emit(ev.RUN_FAILED, error)
        except asyncio.CancelledError:
            status = RunStatus.CANCELLED
            error = {"code": "cancelled", "message": "cancelled by request"}
        except NexusError as exc:  # a provider or sandbox refusal ends the run, not the process
            error = exc.to_dict()
            writer.emit(ev.RUN_FAILED, error)
        except Exception as exc:
            log.exception("code task %s crashed", run_id)
            error = {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}
            writer.emit(ev.RUN_FAILED, error)
        finally:
            tokens = loop.tokens if loop is not None else 0  # spent even if the loop broke off
            await asyncio.shield(self._record(run_id, status, output, error, tokens, writer))

    async def _record(
        self,
        run_id: str,
        status: RunStatus,
        output: dict[str, Any] | None,
        error: dict[str, Any] | None,
        tokens: int,
        writer: RunEventWriter,
    ) -> None:
        usage = {"total_tokens": tokens}
        if await self.s.runs.finish(run_id, status, output=output, error=error, usage=usage):
            writer.emit(
                ev.RUN_COMPLETED,
                {"status": status.value, "output": output, "error": error, "usage": usage},
            )
        await writer.close()


class _Loop:
    """One task's attempts."""

    def __init__(
        self,
        tasks: CodeTasks,
        run_id: str,
        request: CodeTaskRequest,
        model: Any,
        project_id: str,
        entry: str,
        writer: RunEventWriter,
    ) -> None:
        self.t = tasks
        self.run_id = run_id
        self.r = request
        self.model = model
        self.project_id = project_id
        self.entry = entry
        self.writer = writer
        self.tokens = 0
        self.versions: dict[str, int] = {}

    async def run(self) -> dict[str, Any]:
        files = await self.t.projects.files(self.project_id)
        previous: _Attempt | None = None
        stop: StopReason = "max_attempts"
        result: ExecResult | None = None
        number = 0
        for number in range(1, self.r.max_attempts + 1):
            if self.tokens >= self.r.token_budget:
                number -= 1
                stop = "token_budget"
                break
            prompt = self._prompt(files, previous)
            answer = await self._ask(prompt)
            attempt, files, result = await self._attempt(number, answer, files)
            if attempt.error is None:
                stop = "succeeded"
                break
            if previous is not None and attempt.error == previous.error:
                stop = "repeated_error"
                break
            previous = attempt
        success = stop == "succeeded"
        return {
            "success": success,
            "stop_reason": stop,
            "attempts": number,
            "project_id": self.project_id,
            "entry": self.entry,
            "versions": dict(sorted(self.versions.items())),
            "exit_code": result.exit_code if result is not None else None,
            "stdout": _tail(result.stdout, EVENT_TEXT_CHARS) if result is not None else "",
            "tokens": self.tokens,
        }

    # ----------------------------------------------------------------- the model

    def _prompt(self, files: dict[str, str], previous: _Attempt | None) -> str:
        """Plain requests in the words small models were trained on ("Write a Python program.
        …"): SmolLM2-135M answers these with a code block, but copies any skeleton shown."""
        fence = FENCE[self.r.language]
        parts = [f"Write a {LANGUAGE_NAMES[self.r.language]} program. {self.r.prompt.strip()}"]
        if previous is None:
            others = {p: c for p, c in files.items() if p != self.entry}
            for path, content in sorted(others.items())[:5]:
                parts.append(f"The file {path}:\n{_fenced(_tail(content, 3000))}")
            if self.entry in files:
                parts.append(f"The current {self.entry}:\n{_fenced(files[self.entry], fence)}")
            if others or self.entry != ENTRY[self.r.language]:
                parts.append(f"Write the file {self.entry}.")
            parts.append(f"Answer with the code in a ```{fence} block.")
            return "\n\n".join(parts)
        parts.append(f"This program:\n{_fenced(files.get(self.entry, ''), fence)}")
        parts.append(previous.feedback)
        parts.append(f"Write the fixed program. Answer with the code in a ```{fence} block.")
        return "\n\n".join(parts)

    async def _ask(self, prompt: str) -> str:
        remaining = self.r.token_budget - self.tokens
        agent: Agent[Any] = Agent(
            name="code_agent",
            model=self.model,
            model_settings=ModelSettings(temperature=0.0, max_tokens=max(16, min(remaining, 2048))),
        )
        try:
            result = await Runner.run(
                agent,
                prompt,
                max_turns=1,
                run_config=RunConfig(tracing_disabled=True, group_id=self.run_id),
            )
        except NexusError:
            raise
        except Exception as exc:  # the provider's own errors end the task as provider_error
            raise ProviderError(f"the model call failed: {type(exc).__name__}: {exc}") from exc
        answer = result.final_output if isinstance(result.final_output, str) else ""
        used = sum(r.usage.total_tokens for r in result.raw_responses)
        if used == 0:  # a provider that reports no usage still spends the budget (≈4 chars/token)
            used = (len(prompt) + len(answer)) // 4 + 1
        self.tokens += used
        return answer

    # ----------------------------------------------------------------- one attempt

    async def _attempt(
        self, number: int, answer: str, files: dict[str, str]
    ) -> tuple[_Attempt, dict[str, str], ExecResult | None]:
        event: dict[str, Any] = {
            "attempt": number,
            "tokens": self.tokens,
            "answer": _tail(answer, EVENT_TEXT_CHARS),
        }
        changed, problem = self._changes(answer, files)
        if problem is not None:
            attempt = _Attempt(number, error=normalise_error(problem), feedback=problem)
            event.update(error=problem, exit_code=None, stdout="", stderr="", files={}, diff="")
            self.writer.emit(ev.CODE_ATTEMPT, event)
            return attempt, files, None
        saved: list[FileVersion] = await self.t.projects.save_files(
            self.project_id,
            changed,
            author_kind="agent",
            author_id=self.run_id,
            message=f"code task {self.run_id}, attempt {number}",
        )
        for version in saved:
            self.versions[version.path] = version.version
        files = {**files, **changed}
        result = await self._run(files)
        ok = result.exit_code == 0 and not result.timed_out and self._expected(result.stdout)
        summary = None if ok else self._failure(result)
        event.update(
            files={v.path: v.version for v in saved},
            code=_tail(files.get(self.entry, ""), EVENT_TEXT_CHARS),
            diff="".join(v.diff for v in saved),
            stdout=_tail(result.stdout, EVENT_TEXT_CHARS),
            stderr=_tail(result.stderr, EVENT_TEXT_CHARS),
            exit_code=result.exit_code,
            timed_out=result.timed_out,
            killed_reason=result.killed_reason,
            duration_ms=result.duration_ms,
            error=summary,
        )
        self.writer.emit(ev.CODE_ATTEMPT, event)
        if ok:
            return _Attempt(number), files, result
        error_text = result.stderr if result.stderr.strip() else result.stdout
        if result.timed_out or result.killed_reason is not None:
            error_text = f"{result.killed_reason or 'timeout'}\n{error_text}"
        attempt = _Attempt(
            number, error=f"{result.exit_code}\n{normalise_error(error_text)}", feedback=summary
        )
        return attempt, files, result

    def _expected(self, stdout: str) -> bool:
        wanted = self.r.expect_output
        return wanted is None or wanted.strip().lower() in stdout.lower()

    def _changes(self, answer: str, files: dict[str, str]) -> tuple[dict[str, str], str | None]:
        """The whole new files an answer amounts to, or what is wrong with it."""
        reply = parse_reply(answer, self.entry)
        if reply.empty:
            return {}, (
                "Your answer had no code block. Answer with the complete program in one "
                f"```{FENCE[self.r.language]} block."
            )
        changed = dict(reply.files)
        for path, patch in reply.patches.items():
            if path in changed:
                continue  # a whole file wins over a patch to it
            try:
                changed[path] = apply_patch(files.get(path, ""), patch)
            except PatchError as exc:
                return {}, (
                    f"Your patch to {path} did not apply ({exc}). "
                    "Send the complete corrected file instead."
                )
        for path in changed:
            try:
                check_path(path)
            except InvalidInputError as exc:
                return {}, f"{exc.message}. Use a relative file name such as {self.entry}."
        return changed, None

    async def _run(self, files: dict[str, str]) -> ExecResult:
        sandbox = self.t._require_sandbox()
        if self.r.test_command is not None:
            request = ExecRequest(
                language="bash", code=self.r.test_command, files=files, timeout_s=self.r.timeout_s
            )
        elif self.r.language == "python":
            # Run the stored entry file itself, so tracebacks name it and its own lines.
            runner = (
                "import runpy, sys\n"
                f"sys.argv = [{self.entry!r}]\n"
                f"runpy.run_path({self.entry!r}, run_name='__main__')\n"
            )
            request = ExecRequest(
                language="python", code=runner, files=files, timeout_s=self.r.timeout_s
            )
        else:
            request = ExecRequest(
                language="bash",
                code=f"exec bash {_shell_quote(self.entry)}\n",
                files=files,
                timeout_s=self.r.timeout_s,
            )
        return await sandbox.execute(request)

    def _failure(self, result: ExecResult) -> str:
        what = "its test" if self.r.test_command is not None else "it"
        if result.timed_out:
            head = f"When run, {what} was stopped: it ran longer than the time limit"
        elif result.killed_reason is not None:
            head = f"When run, {what} was stopped: {result.killed_reason.replace('_', ' ')}"
        elif result.exit_code != 0:
            head = f"When run, {what} fails with exit code {result.exit_code}"
        else:
            wanted = self.r.expect_output or ""
            head = f"When run, its output does not contain {wanted!r}"
        parts = []
        stderr = result.stderr
        if self.r.test_command is None and self.r.language == "python":
            stderr = without_runner_frames(stderr)
        if stderr.strip():
            parts.append(f"{head} and this error:\n{_fenced(_tail(stderr, FEEDBACK_CHARS))}")
        else:
            parts.append(f"{head}.")
        if result.stdout.strip():
            parts.append(f"Its output:\n{_fenced(_tail(result.stdout, FEEDBACK_CHARS // 2))}")
        return "\n".join(parts)


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
