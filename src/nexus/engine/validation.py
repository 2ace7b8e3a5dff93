"""Validation before a run, and compilation into a ``WorkflowPlan``.

Every problem is collected (not just the first) as ``{node, field, message}``; any problem raises
``InvalidInputError`` carrying the whole list in ``details``. Checked: node count limit, duplicate
ids, unknown types, property schemas (a templated string stands in for any type), node-specific
checks, template syntax and references to nodes that are not upstream, dangling edges, unknown
ports, type-incompatible edges, two edges into one port, unconnected required inputs, cycles, and
output nodes nothing reaches.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from nexus.core.errors import InvalidInputError
from nexus.engine.nodes.registry import NodeType, NodeTypeRegistry
from nexus.engine.plan import PlannedNode, Renderer, WorkflowPlan
from nexus.engine.spec import ERROR_PORT, NodeSpec, PortSpec, WorkflowSpec
from nexus.engine.templates import (
    TemplateEngine,
    TemplateRenderError,
    is_template,
    node_references,
)


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    node: str | None
    field: str
    message: str

    def to_dict(self) -> dict[str, object]:
        return {"node": self.node, "field": self.field, "message": self.message}


def ports_compatible(source: str, target: str) -> bool:
    """``any`` matches everything, ``json`` accepts every value, otherwise types must be equal."""
    return source == target or source == "any" or target in ("any", "json")


def _node_ports(
    node: NodeSpec, registry: NodeTypeRegistry
) -> tuple[list[PortSpec], list[PortSpec]]:
    node_type = registry.get(node.type)
    inputs = node.inputs if node.inputs is not None else node_type.input_ports(node.properties)
    outputs = node.outputs if node.outputs is not None else node_type.output_ports(node.properties)
    if node.policy.on_error == "error_port" and all(p.name != ERROR_PORT for p in outputs):
        outputs = [*outputs, PortSpec(name=ERROR_PORT, type="json")]
    return inputs, outputs


_Ports = tuple[dict[str, PortSpec] | None, dict[str, PortSpec], tuple[str, ...]]


class _PortCache:
    """Port tables of one compile: nodes that use their type's fixed default ports (no port
    overrides, ports not computed from properties, no added error port) share one table per
    type, so a large graph does not build (and keep) a few dicts per node."""

    def __init__(self, registry: NodeTypeRegistry) -> None:
        self.registry = registry
        self.shared: dict[str, _Ports] = {}

    def ports(self, node: NodeSpec, node_type: NodeType) -> _Ports:
        cls = type(node_type)
        fixed = (
            node.inputs is None
            and node.outputs is None
            and node.policy.on_error != "error_port"
            and cls.input_ports is NodeType.input_ports
            and cls.output_ports is NodeType.output_ports
        )
        if fixed:
            cached = self.shared.get(node.type)
            if cached is not None:
                return cached
        inputs, outputs = _node_ports(node, self.registry)
        ports: _Ports = (
            None if node_type.dynamic_inputs else {p.name: p for p in inputs},
            {p.name: p for p in outputs},
            tuple(p.name for p in outputs),
        )
        if fixed:
            self.shared[node.type] = ports
        return ports


class _PropertyCheck:
    """``(field, message)`` problems of a node's properties (JSON Schema, then the type's own
    ``check``), with the answer for empty properties computed once per type."""

    def __init__(self, registry: NodeTypeRegistry) -> None:
        self.registry = registry
        self.empty: dict[str, list[tuple[str, str]]] = {}

    def __call__(self, type_name: str, node_type: NodeType, props: dict[str, Any]) -> Any:
        if not props:
            found = self.empty.get(type_name)
            if found is None:
                found = self.empty[type_name] = self._check(type_name, node_type, props)
            return found
        return self._check(type_name, node_type, props)

    def _check(
        self, type_name: str, node_type: NodeType, props: dict[str, Any]
    ) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        for error in self.registry.validator(type_name).iter_errors(props):
            if is_template(error.instance):
                continue
            where = "".join(f".{p}" for p in error.absolute_path)
            if error.validator == "required":
                missing = next((r for r in error.validator_value if r not in props), "")
                where = f".{missing}"
            problems.append((f"properties{where}", error.message))
        problems += node_type.check(props, self.registry)
        return problems


def _collect_templates(value: Any, path: str, out: list[tuple[str, str]]) -> None:
    if isinstance(value, str):
        if is_template(value):
            out.append((path, value))
    elif isinstance(value, dict):
        for k, v in value.items():
            _collect_templates(v, f"{path}.{k}", out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _collect_templates(v, f"{path}[{i}]", out)


def compile_workflow(
    spec: WorkflowSpec, registry: NodeTypeRegistry, templates: TemplateEngine | None = None
) -> WorkflowPlan:
    """Validate ``spec`` and precompute what the executor needs; raises ``InvalidInputError``
    listing every problem."""
    templates = templates if templates is not None else TemplateEngine()
    issues: list[ValidationIssue] = []
    add = issues.append
    limits = spec.limits
    if len(spec.nodes) > limits.max_nodes:
        add(
            ValidationIssue(
                None,
                "nodes",
                f"{len(spec.nodes)} nodes is over limits.max_nodes ({limits.max_nodes}).",
            )
        )

    try:
        Draft202012Validator.check_schema(spec.inputs)
    except SchemaError as exc:
        add(ValidationIssue(None, "inputs", f"Not a valid JSON Schema: {exc.message}"))

    nodes: dict[str, PlannedNode] = {}
    in_ports: dict[str, dict[str, PortSpec] | None] = {}
    out_ports: dict[str, dict[str, PortSpec]] = {}
    references: dict[str, list[tuple[str, set[str]]]] = {}
    port_cache = _PortCache(registry)
    check_properties = _PropertyCheck(registry)
    for node in spec.nodes:
        nid = node.id
        if nid in nodes or nid in in_ports:
            add(ValidationIssue(nid, "id", f"Node id {nid!r} is used twice."))
            continue
        if node.type not in registry:
            add(ValidationIssue(nid, "type", f"Unknown node type {node.type!r}."))
            in_ports[nid] = None
            out_ports[nid] = {}
            continue
        node_type = registry.get(node.type)
        props = node.properties
        for field, message in check_properties(node.type, node_type, props):
            add(ValidationIssue(nid, field, message))

        render: Renderer | None = None
        renderers: dict[str, Any] = {}
        for key, value in props.items():
            if key in node_type.raw_properties:
                continue
            found: list[tuple[str, str]] = []
            _collect_templates(value, f"properties.{key}", found)
            try:
                for path, source in found:
                    templates.compile(source)
                    refs = node_references(source)
                    if refs:
                        references.setdefault(nid, []).append((path, refs))
                compiled = templates.compile_value(value)
            except TemplateRenderError as exc:
                add(ValidationIssue(nid, f"properties.{key}", exc.message))
                continue
            if compiled is not None:
                renderers[key] = compiled
        for key in node_type.raw_properties if props else ():
            found = []
            _collect_templates(props.get(key), f"properties.{key}", found)
            for path, source in found:
                refs = node_references(source)
                if refs:
                    references.setdefault(nid, []).append((path, refs))
        if renderers:
            render = _make_renderer(props, renderers)

        in_ports[nid], out_ports[nid], output_names = port_cache.ports(node, node_type)
        nodes[nid] = PlannedNode(
            id=nid,
            spec=node,
            type=node_type,
            policy=node.policy,
            properties=props,
            render=render,
            output_ports=output_names,
            first=node_type.trigger(props) == "first",
        )

    edge_ids: set[str] = set()
    connected: set[tuple[str, str]] = set()
    outgoing: dict[str, list[tuple[str, str, str]]] = {}
    for edge in spec.edges:
        where = "edges." + edge.id
        if edge.id in edge_ids:
            add(ValidationIssue(edge.source.node, where, f"Edge id {edge.id!r} is used twice."))
            continue
        edge_ids.add(edge.id)
        src, dst = edge.source, edge.target
        ok = True
        if src.node not in in_ports:
            add(ValidationIssue(src.node, f"{where}.source.node", f"No node {src.node!r}."))
            ok = False
        if dst.node not in in_ports:
            add(ValidationIssue(dst.node, f"{where}.target.node", f"No node {dst.node!r}."))
            ok = False
        if not ok or src.node not in nodes or dst.node not in nodes:
            continue
        source_port = out_ports[src.node].get(src.port)
        if source_port is None:
            known = ", ".join(out_ports[src.node]) or "none"
            add(
                ValidationIssue(
                    src.node,
                    f"{where}.source.port",
                    f"Node {src.node!r} has no output port {src.port!r} (outputs: {known}).",
                )
            )
            continue
        target_ports = in_ports[dst.node]
        target_type = "any"
        if target_ports is not None:
            target_port = target_ports.get(dst.port)
            if target_port is None:
                known = ", ".join(target_ports) or "none"
                add(
                    ValidationIssue(
                        dst.node,
                        f"{where}.target.port",
                        f"Node {dst.node!r} has no input port {dst.port!r} (inputs: {known}).",
                    )
                )
                continue
            target_type = target_port.type
        if not ports_compatible(source_port.type, target_type):
            add(
                ValidationIssue(
                    dst.node,
                    where,
                    f"Edge carries {source_port.type} from {src.node}.{src.port} into "
                    f"{target_type} port {dst.node}.{dst.port}.",
                )
            )
            continue
        if (dst.node, dst.port) in connected:
            add(
                ValidationIssue(
                    dst.node,
                    f"{where}.target.port",
                    f"Input port {dst.port!r} of {dst.node!r} already has an incoming edge; "
                    "join branches with a merge node.",
                )
            )
            continue
        connected.add((dst.node, dst.port))
        outgoing.setdefault(src.node, []).append((src.port, dst.node, dst.port))
        nodes[dst.node].in_degree += 1
    for nid, leaving in outgoing.items():
        nodes[nid].out_edges = tuple(leaving)

    for nid in nodes:
        for name, spec_port in (in_ports[nid] or {}).items():
            if spec_port.required and (nid, name) not in connected:
                add(ValidationIssue(nid, f"inputs.{name}", f"Required input {name!r} has no edge."))

    order = _topological_order(nodes)
    if len(order) < len(nodes):
        in_order = set(order)
        stuck = [n for n in nodes if n not in in_order]
        for nid in stuck:
            add(
                ValidationIssue(
                    nid,
                    "edges",
                    "Node is on a cycle (nodes involved: "
                    f"{', '.join(sorted(stuck)[:10])}); iterate with a loop node instead.",
                )
            )
    else:
        _check_references(nodes, references, add)

    outputs: dict[str, str] = {}
    for nid, planned in nodes.items():
        if planned.type.name != "output":
            continue
        if planned.in_degree == 0 and "value" not in planned.properties:
            message = "Output node is unreachable: no edge reaches it."
            add(ValidationIssue(nid, "inputs.input", message))
        name = planned.properties.get("name", nid)
        if name in outputs:
            add(ValidationIssue(nid, "properties.name", f"Output name {name!r} is used twice."))
        outputs[name] = nid

    if issues:
        first = issues[0]
        who = f"node {first.node!r}" if first.node is not None else "workflow"
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        raise InvalidInputError(
            f"Workflow is invalid: {who}, {first.field}: {first.message}{more}",
            field=first.field,
            details=[i.to_dict() for i in issues],
        )
    sources = [nid for nid in order if nodes[nid].in_degree == 0]
    return WorkflowPlan(
        spec=spec,
        nodes=nodes,
        order=order,
        sources=sources,
        outputs=outputs,
        inputs_validator=Draft202012Validator(spec.inputs),
        inputs_any_object=spec.inputs == {"type": "object"},
    )


def validate_workflow(spec: WorkflowSpec, registry: NodeTypeRegistry) -> list[ValidationIssue]:
    """Every problem of ``spec`` (empty when it is valid)."""
    try:
        compile_workflow(spec, registry)
    except InvalidInputError as exc:
        return [ValidationIssue(**d) for d in exc.details or []]  # type: ignore[arg-type]
    return []


def _make_renderer(props: dict[str, Any], renderers: dict[str, Any]) -> Renderer:
    def render(scope: dict[str, Any]) -> dict[str, Any]:
        rendered = dict(props)
        for key, fn in renderers.items():
            rendered[key] = fn(scope)
        return rendered

    return render


def _topological_order(nodes: dict[str, PlannedNode]) -> list[str]:
    remaining = {nid: n.in_degree for nid, n in nodes.items()}
    queue = deque(nid for nid, d in remaining.items() if d == 0)
    order: list[str] = []
    while queue:
        nid = queue.popleft()
        order.append(nid)
        for _, target, _ in nodes[nid].out_edges:
            remaining[target] -= 1
            if remaining[target] == 0:
                queue.append(target)
    return order


def _check_references(
    nodes: dict[str, PlannedNode],
    references: dict[str, list[tuple[str, set[str]]]],
    add: Any,
) -> None:
    if not references:
        return
    parents: dict[str, list[str]] = {nid: [] for nid in nodes}
    for nid, planned in nodes.items():
        for _, target, _ in planned.out_edges:
            parents[target].append(nid)
    for nid, refs in references.items():
        ancestors: set[str] = set()
        stack = list(parents[nid])
        while stack:
            parent = stack.pop()
            if parent not in ancestors:
                ancestors.add(parent)
                stack.extend(parents[parent])
        for path, names in refs:
            for name in sorted(names):
                if name not in nodes:
                    add(ValidationIssue(nid, path, f"Template refers to unknown node {name!r}."))
                elif name not in ancestors:
                    add(
                        ValidationIssue(
                            nid,
                            path,
                            f"Template refers to node {name!r}, which is not upstream; "
                            "connect it with an edge so its output exists in time.",
                        )
                    )
