"""The ``nexus`` command line: serve, migrate, seed, agents, agent run, chat, models.

Commands that run agents do it in this process (no server needed) through the same runner the
API uses, so a CLI run is stored and observable like any other.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from nexus.agents.spec import AgentSpec
from nexus.core import events as ev
from nexus.core.errors import InvalidInputError, NexusError, NotFoundError
from nexus.settings import Settings, get_settings
from nexus.store.tables import AgentRow

app = typer.Typer(no_args_is_help=True, help="Nexus: agents, workflows and runs.")
agents_app = typer.Typer(no_args_is_help=True, help="Stored agents.")
agent_app = typer.Typer(no_args_is_help=True, help="Run one agent.")
app.add_typer(agents_app, name="agents")
app.add_typer(agent_app, name="agent")

console = Console(stderr=True)
out = Console()
T = TypeVar("T")
EXAMPLES_DIR = Path("examples/agents")
WORKFLOW_EXAMPLES_DIR = Path("examples/workflows")


def _fail(exc: NexusError) -> typer.Exit:
    console.print(f"[red]error[/red] ({exc.code}): {exc.message}")
    return typer.Exit(code=1)


def _settings() -> Settings:
    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    return settings


def _migrate(settings: Settings) -> None:
    from nexus.store.migrate import upgrade

    with console.status("Migrating the database…"):
        upgrade(settings.resolved_database_url)
    console.print(f"[green]✓[/green] database ready ({settings.resolved_database_url})")


def _with_services(body: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``body(runner)`` with this process's services, then close them."""
    from nexus.worker.agent_runs import AgentRunner
    from nexus.worker.services import build_services

    async def main() -> T:
        services = build_services(_settings())
        runner = AgentRunner(services)
        try:
            return await body(runner)
        finally:
            await runner.shutdown()
            await services.db.dispose()

    try:
        return asyncio.run(main())
    except NexusError as exc:
        raise _fail(exc) from exc


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    _migrate(_settings())


@app.command()
def openapi(
    output: Annotated[Path | None, typer.Option(help="file to write (default: stdout)")] = None,
) -> None:
    """Print the API's OpenAPI document (the web app's typed client is generated from it)."""
    from nexus.api.app import create_app

    document = json.dumps(create_app(_settings()).openapi(), indent=2, sort_keys=True) + "\n"
    if output is None:
        sys.stdout.write(document)
    else:
        output.write_text(document)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="interface to bind")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
) -> None:
    """Migrate, then serve the API (and UI) with the embedded model."""
    import uvicorn

    from nexus.api.app import create_app

    settings = _settings()
    _migrate(settings)
    bind_host = host if host is not None else settings.host
    bind_port = port if port is not None else settings.port
    console.print(f"Nexus on http://{bind_host}:{bind_port}  (API docs: /docs)")
    uvicorn.run(create_app(settings), host=bind_host, port=bind_port, log_level="info")


def _seed_order(specs: list[AgentSpec]) -> list[AgentSpec]:
    """Targets before the agents that hand off to them (cycles keep file order)."""
    by_name = {s.name: s for s in specs}
    ordered: list[AgentSpec] = []
    seen: set[str] = set()

    def visit(spec: AgentSpec, stack: set[str]) -> None:
        if spec.name in seen or spec.name in stack:
            return
        for ref in spec.handoffs:
            if ref.agent in by_name:
                visit(by_name[ref.agent], stack | {spec.name})
        seen.add(spec.name)
        ordered.append(spec)

    for spec in specs:
        visit(spec, set())
    return ordered


@app.command()
def seed(
    directory: Annotated[Path, typer.Option("--dir", help="folder of agent YAML files")] = (
        EXAMPLES_DIR
    ),
) -> None:
    """Load (create or update) the example agents from YAML files."""
    files = sorted(directory.glob("*.y*ml"))
    if not files:
        console.print(f"[yellow]no agent files in {directory}[/yellow]")
        return
    specs = [AgentSpec.from_yaml(f.read_text()) for f in files]

    async def body(runner: Any) -> list[str]:
        from nexus.store.workspace_repository import WorkspaceRepository

        # Examples are public and owned by no one; before the first sign-up they have no
        # workspace (the first account adopts them), afterwards they go to the first one.
        async with runner.s.db.sessions() as session:
            first = await WorkspaceRepository().first(session)
        workspace_id = first.id if first is not None else None
        done = []
        for spec in _seed_order(specs):
            await runner.validate(spec, workspace_id)
            existing = await runner.s.agents.by_name(spec.name, workspace_id)
            if existing is None:
                await runner.s.agents.create(spec, workspace_id=workspace_id, visibility="public")
                done.append(f"created {spec.name}")
            else:
                await runner.s.agents.update(existing.id, spec)
                done.append(f"updated {spec.name}")
        return done

    with console.status(f"Seeding {len(specs)} agents…"):
        done = _with_services(body)
    for line in done:
        console.print(f"[green]✓[/green] {line}")
    _seed_workflows(WORKFLOW_EXAMPLES_DIR if directory == EXAMPLES_DIR else directory)


def _seed_workflows(directory: Path) -> None:
    """Create or update the example workflows (public, like the agents) and publish each."""
    from nexus.engine.spec import WorkflowSpec

    files = sorted(directory.glob("*.y*ml"))
    specs = [WorkflowSpec.from_yaml(f.read_text()) for f in files]
    specs = [s for s in specs if s.nodes]  # an agent file is not a workflow
    if not specs:
        return

    async def body(runner: Any) -> list[str]:
        from nexus.engine.executor import WorkflowExecutor
        from nexus.store.checkpointer import SqlCheckpointer
        from nexus.store.workspace_repository import WorkspaceRepository

        async with runner.s.db.sessions() as session:
            first = await WorkspaceRepository().first(session)
        workspace_id = first.id if first is not None else None
        validator = WorkflowExecutor(SqlCheckpointer(runner.s.db))
        repo = runner.s.workflows
        done = []
        for spec in specs:
            validator.compile(spec)
            existing = await repo.by_name(spec.name, workspace_id)
            if existing is None:
                stored = await repo.create(spec, workspace_id=workspace_id, visibility="public")
                done.append(f"created workflow {spec.name}")
            else:
                stored = await repo.update(existing.id, spec)
                done.append(f"updated workflow {spec.name}")
            versions = await repo.versions(stored.id)
            if not versions or versions[-1].spec.model_copy(update={"version": None}) != spec:
                await repo.publish(stored.id, label="example")
        return done

    with console.status(f"Seeding {len(specs)} workflows…"):
        done = _with_services(body)
    for line in done:
        console.print(f"[green]✓[/green] {line}")


@agents_app.command("list")
def agents_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List stored agents."""

    async def body(runner: Any) -> list[Any]:
        items, _ = await runner.s.agents.list(limit=100)
        return items  # the operator's view: every agent of the instance

    items = _with_services(body)
    if as_json:
        out.print_json(json.dumps([{"id": a.id, **a.spec.model_dump(mode="json")} for a in items]))
        return
    table = Table("id", "name", "model", "tools", "handoffs", "description")
    for a in items:
        table.add_row(
            a.id,
            a.spec.name,
            a.spec.model,
            ", ".join(t.name for t in a.spec.tools),
            ", ".join(h.agent for h in a.spec.handoffs),
            a.spec.description[:60],
        )
    out.print(table)


def _spec_file(name_or_file: str) -> AgentSpec | None:
    path = Path(name_or_file)
    if path.suffix in {".yaml", ".yml"} and path.is_file():
        return AgentSpec.from_yaml(path.read_text())
    return None


async def _resolve_spec(
    runner: Any, name_or_file: str, from_file: AgentSpec | None
) -> tuple[AgentSpec, Any]:
    """The spec to run and, for a stored agent, the agent (id, or name in any workspace)."""
    if from_file is not None:
        return from_file, None
    agent = await runner.s.agents.get(name_or_file)
    if agent is None:
        matches, _ = await runner.s.agents.list(where=AgentRow.name == name_or_file, limit=2)
        if len(matches) > 1:
            raise InvalidInputError(
                f"several workspaces have an agent named {name_or_file!r}; give its id"
            )
        agent = matches[0] if matches else None
    if agent is None:
        raise NotFoundError(f"agent {name_or_file!r} not found (give an agent id or name)")
    return agent.spec, agent


async def _run_once(
    runner: Any,
    spec: AgentSpec,
    agent: Any,
    text: str,
    *,
    session_id: str | None,
    stream: bool,
) -> Any:
    from nexus.providers.llamacpp_runtime import RuntimeConfig, ensure_loaded, is_loaded

    if spec.model.startswith("local:") and not is_loaded():
        settings = runner.s.settings
        with console.status("Loading the embedded model…"):
            await ensure_loaded(
                RuntimeConfig(n_ctx=settings.local_n_ctx, n_threads=settings.local_threads)
            )
    # CLI runs are the operator's: no owning user, in the agent's workspace.
    workspace_id = agent.workspace_id if agent is not None else None
    run = await runner.start(
        spec,
        text,
        workspace_id=workspace_id,
        agent_id=agent.id if agent is not None else None,
        session_id=session_id,
    )
    if stream:
        async for event in runner.s.events.follow(run.id):
            _print_event(event.type, event.data)
    return await runner.wait(run.id)


def _print_event(kind: str, data: dict[str, Any]) -> None:
    if kind == ev.TOKEN:
        sys.stdout.write(data["delta"])
        sys.stdout.flush()
    elif kind == ev.TOOL_CALLED:
        console.print(f"\n[cyan]→ {data['tool']}({data['arguments']})[/cyan]")
    elif kind == ev.TOOL_OUTPUT:
        console.print(f"[cyan]← {data['output'][:200]}[/cyan]")
    elif kind == ev.HANDOFF:
        console.print(f"\n[magenta]⇢ handoff {data['from']} → {data['to']}[/magenta]")
    elif kind == ev.RUN_COMPLETED:
        sys.stdout.write("\n")


@agent_app.command("run")
def agent_run(
    name_or_file: Annotated[str, typer.Argument(help="agent id, name, or a YAML file")],
    text: Annotated[str, typer.Argument(help="the input")],
    stream: Annotated[bool, typer.Option("--stream", help="print tokens as they come")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the run as JSON")] = False,
    session: Annotated[str | None, typer.Option(help="session id for multi-turn")] = None,
) -> None:
    """Run an agent once and print its answer."""

    from_file = _spec_file(name_or_file)

    async def body(runner: Any) -> Any:
        spec, agent = await _resolve_spec(runner, name_or_file, from_file)
        return await _run_once(
            runner, spec, agent, text, session_id=session, stream=stream and not as_json
        )

    run = _with_services(body)
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "run_id": run.id,
                    "status": run.status.value,
                    "output": run.output,
                    "error": run.error,
                    "usage": run.usage,
                },
                default=str,
            )
        )
    elif run.status.value != "succeeded":
        console.print(f"[red]{run.status.value}[/red]: {(run.error or {}).get('message')}")
    elif not stream:
        out.print(run.output if isinstance(run.output, str) else json.dumps(run.output))
    if run.status.value != "succeeded":
        raise typer.Exit(code=1)


@app.command()
def chat(name: Annotated[str, typer.Argument(help="agent id or name")]) -> None:
    """Chat with an agent (streaming; the conversation is kept in one session)."""
    from nexus.core.ids import new_id

    session_id = new_id("chat")

    async def body(runner: Any) -> None:
        spec, agent = await _resolve_spec(runner, name, None)
        console.print(f"Chatting with [bold]{spec.name}[/bold] ({spec.model}). Ctrl-D to quit.")
        while True:
            try:
                text = await asyncio.to_thread(input, "you> ")
            except EOFError:
                console.print()
                return
            if not text.strip():
                continue
            sys.stdout.write(f"{spec.name}> ")
            run = await _run_once(runner, spec, agent, text, session_id=session_id, stream=True)
            if run.status.value != "succeeded":
                console.print(f"[red]{run.status.value}[/red]: {(run.error or {}).get('message')}")

    _with_services(body)


@app.command()
def models(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List model providers, whether they are configured, and their models."""
    from dataclasses import asdict

    from nexus.providers.registry import ProviderRegistry

    registry = ProviderRegistry(_settings())
    providers = registry.providers()
    if as_json:
        data = [
            {**asdict(p), "models": [asdict(m) for m in registry.models(p.name)]} for p in providers
        ]
        out.print_json(json.dumps(data))
        return
    table = Table("provider", "kind", "configured", "models", "set with")
    for p in providers:
        names = ", ".join(m.name for m in registry.models(p.name)) or "(any)"
        table.add_row(p.name, p.kind, "yes" if p.configured else "no", names, p.setting or "")
    out.print(table)


user_app = typer.Typer(no_args_is_help=True, help="User accounts.")
token_app = typer.Typer(no_args_is_help=True, help="API tokens.")
secrets_app = typer.Typer(no_args_is_help=True, help="The credential vault's keys.")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(secrets_app, name="secrets")


def _with_accounts(body: Callable[[Any], Awaitable[T]]) -> T:
    from nexus.security.accounts import Accounts

    async def with_runner(runner: Any) -> T:
        return await body(Accounts(runner.s.db))

    return _with_services(with_runner)


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Argument(help="the account's email")],
    role: Annotated[str, typer.Option(help="admin | developer | viewer")] = "developer",
    workspace: Annotated[
        str | None, typer.Option(help="workspace name (created if missing; default: the first)")
    ] = None,
    instance_admin: Annotated[
        bool, typer.Option("--instance-admin", help="also administer the whole instance")
    ] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
) -> None:
    """Create a user (the first user of an instance is always its administrator)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def body(accounts: Any) -> Any:
        return await accounts.create_user(email, password, role, workspace, instance_admin)

    user = _with_accounts(body)
    console.print(f"[green]✓[/green] created {user.email} ({user.id}) admin={user.is_admin}")


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option("--user", help="the user's email")],
    name: Annotated[str, typer.Option("--name", help="what the token is for")],
    expires_days: Annotated[int | None, typer.Option(help="days until it expires")] = None,
) -> None:
    """Create an API token and print it once (only its hash is stored)."""
    from datetime import timedelta

    from nexus.store.tables import utcnow

    async def body(accounts: Any) -> str:
        found = await accounts.find_user(user)
        if found is None:
            raise NotFoundError(f"no user with email {user!r}; create one with `nexus user create`")
        expires = utcnow() + timedelta(days=expires_days) if expires_days else None
        _, token = await accounts.create_token(found.id, name, expires)
        return token

    token = _with_accounts(body)
    console.print("[yellow]Store this token now; it is not shown again.[/yellow]")
    out.print(token)


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Re-wrap every data key under a new master key; running servers keep working.

    Key file mode (no NEXUS_SECRET_KEY): a new key is added to NEXUS_HOME/secret.keys and the
    old ones are kept for reading. Environment mode: set the new NEXUS_SECRET_KEY and the old
    one in NEXUS_SECRET_KEY_PREVIOUS, then run this.
    """
    import os

    from nexus.security.keyring import ENV_KEY, Keyring
    from nexus.security.vault import Vault

    settings = _settings()

    async def body(runner: Any) -> Any:
        if os.environ.get(ENV_KEY):
            keyring = Keyring.load(settings.home)
        else:
            keyring = Keyring.rotate_file(settings.home)
        return await Vault(runner.s.db, keyring).rotate_master(keyring)

    with console.status("Re-wrapping data keys…"):
        result = _with_services(body)
    console.print(
        f"[green]✓[/green] master key {result.master_key_id}: {result.rewrapped} data keys "
        f"re-wrapped, {result.unchanged} already current"
    )


def main() -> None:
    app()


# --- workflows -------------------------------------------------------------------------------

workflow_app = typer.Typer(no_args_is_help=True, help="Workflows: validate, run, import, export.")
app.add_typer(workflow_app, name="workflow")


def _workflow_file(path: Path) -> Any:
    from nexus.engine.spec import WorkflowSpec

    try:
        return WorkflowSpec.from_yaml(path.read_text())
    except NexusError as exc:
        raise _fail(exc) from exc
    except ValueError as exc:  # pydantic's ValidationError
        console.print(f"[red]error[/red] (invalid_input): {path}: {exc}")
        raise typer.Exit(code=1) from exc


def _print_invalid(exc: InvalidInputError) -> None:
    console.print(f"[red]invalid[/red]: {exc.message}")
    for d in exc.details or []:
        console.print(f"  node {d.get('node') or '-'} · {d.get('field')}: {d.get('message')}")


def _parse_inputs(pairs: list[str]) -> dict[str, Any]:
    """``k=v`` pairs; a value that parses as JSON is taken as JSON, else as text."""
    inputs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise _fail(InvalidInputError(f"--input takes key=value, not {pair!r}", field="input"))
        try:
            inputs[key] = json.loads(value)
        except ValueError:
            inputs[key] = value
    return inputs


@workflow_app.command("validate")
def workflow_validate(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Check a workflow file: node types, properties, edges, cycles, reachable outputs."""
    from nexus.engine.executor import WorkflowExecutor
    from nexus.engine.memory import InMemoryCheckpointer

    spec = _workflow_file(file)
    try:
        WorkflowExecutor(InMemoryCheckpointer()).compile(spec)
    except InvalidInputError as exc:
        _print_invalid(exc)
        raise typer.Exit(code=1) from exc
    console.print(f"[green]✓[/green] {spec.name}: {len(spec.nodes)} nodes, {len(spec.edges)} edges")


@workflow_app.command("run")
def workflow_run(
    target: Annotated[str, typer.Argument(help="a workflow file, or a stored workflow's name/id")],
    inputs: Annotated[list[str] | None, typer.Option("--input", "-i", help="key=value")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Run a workflow in this process, showing node progress live; prints its outputs."""
    from nexus.worker.workflow_runs import WorkflowRuns

    values = _parse_inputs(inputs or [])
    path = Path(target)
    spec = _workflow_file(path) if path.is_file() else None

    async def body(runner: Any) -> Any:
        runs = WorkflowRuns(runner.s, runner)
        try:
            if spec is not None:
                run = await runs.start_spec(spec, values)
            else:
                stored = await runner.s.workflows.get(target)
                if stored is None:
                    stored = await runner.s.workflows.by_name(target, None)
                if stored is None:
                    raise NotFoundError(f"no workflow file or stored workflow {target!r}")
                run = await runs.start(stored, values, owner_id=None, workspace_id=None)
            if not as_json:
                await _show_progress(runner, run.id)
            return await runs.wait(run.id)
        except InvalidInputError as exc:
            _print_invalid(exc)
            raise typer.Exit(code=1) from exc
        except NexusError as exc:
            raise _fail(exc) from exc
        finally:
            await runs.shutdown()

    run = _with_services(body)
    result = {"run_id": run.id, "status": run.status.value, "outputs": run.output}
    if run.error is not None:
        result["error"] = run.error
    if as_json:
        out.print_json(json.dumps(result))
    else:
        out.print(json.dumps(run.output, indent=2, ensure_ascii=False))
    if run.status.value != "succeeded":
        console.print(f"[red]{run.status.value}[/red] {json.dumps(run.error or {})}")
        raise typer.Exit(code=1)


async def _show_progress(runner: Any, run_id: str) -> None:
    async for event in runner.s.events.follow(run_id):
        data = event.data
        if event.type == ev.NODE_STARTED:
            console.print(f"[cyan]▶[/cyan] {data['node_id']} ({data['type']})")
        elif event.type == ev.NODE_COMPLETED:
            console.print(f"[green]✓[/green] {data['node_id']} {data['execution_time']:.0f} ms")
        elif event.type == ev.NODE_FAILED:
            console.print(f"[red]✗[/red] {data['node_id']}: {data['error'].get('message')}")
        elif event.type == ev.NODE_WAITING:
            console.print(f"[yellow]…[/yellow] {data['node_id']} waits for approval")
            return
        elif event.type == ev.RUN_COMPLETED:
            return


@workflow_app.command("import")
def workflow_import(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Store a workflow file (in the first workspace) and publish it as version 1."""
    spec = _workflow_file(file)

    async def body(runner: Any) -> str:
        from nexus.store.workspace_repository import WorkspaceRepository
        from nexus.worker.workflow_runs import WorkflowRuns

        WorkflowRuns(runner.s, runner).compile(spec)
        async with runner.s.db.sessions() as session:
            first = await WorkspaceRepository().first(session)
        workspace_id = first.id if first is not None else None
        stored = await runner.s.workflows.create(spec, workspace_id=workspace_id)
        await runner.s.workflows.publish(stored.id, label="imported")
        return str(stored.id)

    try:
        workflow_id = _with_services(body)
    except InvalidInputError as exc:
        _print_invalid(exc)
        raise typer.Exit(code=1) from exc
    except NexusError as exc:
        raise _fail(exc) from exc
    console.print(f"[green]✓[/green] imported {spec.name} as {workflow_id}")


@workflow_app.command("export")
def workflow_export(
    ref: Annotated[str, typer.Argument(help="workflow id or name")],
    fmt: Annotated[str, typer.Option("--format", help="yaml or json")] = "yaml",
) -> None:
    """Print a stored workflow's draft as YAML (or JSON)."""

    async def body(runner: Any) -> Any:
        stored = await runner.s.workflows.get(ref)
        if stored is None:
            items, _ = await runner.s.workflows.list(limit=100_000)
            stored = next((w for w in items if w.spec.name == ref), None)
        if stored is None:
            raise _fail(NotFoundError(f"workflow {ref!r} not found"))
        return stored.spec

    spec = _with_services(body)
    if fmt == "json":
        out.print_json(json.dumps(spec.to_json()))
    else:
        sys.stdout.write(spec.to_yaml())
