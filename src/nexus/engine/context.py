"""What a running node sees: its run, its attempt and idempotency key, services, templates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from nexus.core import events as ev
from nexus.core.errors import RunError
from nexus.core.usage import RunUsage
from nexus.engine.nodes.registry import NodeTypeRegistry
from nexus.engine.services import ModelAnswer, Services
from nexus.engine.spec import WorkflowLimits
from nexus.engine.templates import TemplateEngine


@dataclass(slots=True)
class NodeContext:
    run_id: str
    node_id: str
    attempt: int
    """1 for the first try; a node interrupted by a crash re-runs with the same attempt."""
    services: Services
    templates: TemplateEngine
    registry: NodeTypeRegistry
    limits: WorkflowLimits
    scope: dict[str, Any]
    """The template context: ``inputs``, ``nodes``, ``input`` (and ``item``/``index`` in loops)."""
    emit: Callable[[str, dict[str, Any]], Any]
    count_step: Callable[[], None]
    depth: int = 0
    """How many sub-workflows deep this run is (0 for a top-level run)."""
    decision: dict[str, Any] | None = None
    """The decision a waiting node resumes with (``{"approved": bool, ...}``)."""
    usage: RunUsage = field(default_factory=RunUsage)
    """Tokens the node's model calls used (every attempt of it in this run; shared with the
    contexts of loop items); kept in the node's record."""

    @property
    def idempotency_key(self) -> str:
        """``run_id:node_id:attempt``: the same for a re-run after a crash, new for a retry."""
        return f"{self.run_id}:{self.node_id}:{self.attempt}"

    def answer(self, answer: ModelAnswer | Any) -> Any:
        """The value of a model call's answer, its usage added to the node's."""
        if isinstance(answer, ModelAnswer):
            self.usage.merge(answer.usage)
            return answer.value
        return answer

    def emit_token(self, delta: str) -> None:
        self.emit(ev.TOKEN, {"node_id": self.node_id, "delta": delta})

    def evaluate(self, expression: str, scope: dict[str, Any] | None = None) -> Any:
        fn = self.templates.compile_expression(expression)
        return fn(self.scope if scope is None else scope)

    async def run_item(
        self, type_name: str, properties: dict[str, Any], item: Any, index: int
    ) -> Any:
        """Apply one node type to one loop item (``item``/``index`` in templates); returns its
        ``output`` port value, or all its outputs when it has no ``output`` port."""
        node_type = self.registry.get(type_name)
        self.count_step()
        scope = {**self.scope, "item": item, "index": index}
        raw = node_type.raw_properties
        rendered = {}
        for key, value in properties.items():
            if key in raw:
                rendered[key] = value
                continue
            render = self.templates.compile_value(value)
            rendered[key] = value if render is None else render(scope)
        child = replace(self, node_id=f"{self.node_id}[{index}]", scope=scope)
        result = await node_type.run(child, {"input": item}, rendered)
        if result.waiting is not None:
            raise RunError(f"Loop body type {type_name!r} cannot wait for a decision.")
        return result.outputs["output"] if "output" in result.outputs else result.outputs
