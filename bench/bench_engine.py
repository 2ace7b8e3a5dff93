"""Workflow engine overhead: Nexus executor vs LangGraph, large graphs, wide concurrency.

    .venv/bin/python bench/bench_engine.py            # writes bench/results/engine.{json,md}

No-op nodes, in-memory checkpoints (ours: ``InMemoryCheckpointer``; LangGraph: ``InMemorySaver``),
events collected in memory. LangGraph comes from the bench-only extra:
``.venv/bin/pip install -e '.[bench]'`` (or ``pip install langgraph==1.2.22``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import operator
import os
import platform
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

from nexus.engine.context import NodeContext
from nexus.engine.executor import WorkflowExecutor
from nexus.engine.memory import InMemoryCheckpointer, MemoryEventSink
from nexus.engine.nodes.registry import NodeResult, NodeType, default_node_types
from nexus.engine.spec import WorkflowSpec

RESULTS = Path(__file__).parent / "results"


class State(TypedDict):
    """LangGraph state for the comparison graphs."""

    trail: Annotated[list[str], operator.add]


BIG_LIMITS = {"max_nodes": 20_000, "max_steps": 100_000}


class NoOp(NodeType):
    name = "noop"
    description = "Does nothing."

    async def run(
        self, ctx: NodeContext, inputs: dict[str, Any], properties: dict[str, Any]
    ) -> NodeResult:
        return NodeResult({"output": None})


def _spec(nodes: list[dict[str, Any]], edges: list[tuple[str, str, str]]) -> WorkflowSpec:
    return WorkflowSpec.model_validate(
        {
            "name": "bench",
            "limits": BIG_LIMITS,
            "nodes": nodes,
            "edges": [
                {
                    "id": f"e{i}",
                    "source": {"node": s, "port": "output"},
                    "target": {"node": t, "port": p},
                }
                for i, (s, t, p) in enumerate(edges)
            ],
        }
    )


def chain(n: int) -> WorkflowSpec:
    nodes = [{"id": f"n{i}", "type": "noop"} for i in range(n)]
    return _spec(nodes, [(f"n{i}", f"n{i + 1}", "input") for i in range(n - 1)])


def fan_out(
    width: int, node_type: str = "noop", props: dict[str, Any] | None = None
) -> WorkflowSpec:
    nodes = [{"id": "src", "type": "noop"}]
    nodes += [{"id": f"b{i}", "type": node_type, "properties": props or {}} for i in range(width)]
    nodes.append({"id": "join", "type": "merge"})
    edges = [("src", f"b{i}", "input") for i in range(width)]
    edges += [(f"b{i}", "join", f"in{i}") for i in range(width)]
    return _spec(nodes, edges)


def executor() -> WorkflowExecutor:
    registry = default_node_types()
    registry.register(NoOp())
    return WorkflowExecutor(InMemoryCheckpointer(), registry=registry)


async def per_node_us(spec: WorkflowSpec, runs: int) -> float:
    ex = executor()
    plan = ex.compile(spec)
    for _ in range(min(200, runs)):
        await ex.start(plan, {}, events=MemoryEventSink())
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(runs):
            await ex.start(plan, {}, events=MemoryEventSink())
        best = min(best, time.perf_counter() - started)
    return best / runs / len(spec.nodes) * 1e6


async def big_graph_ms(n: int) -> dict[str, float]:
    spec = chain(n)
    best: dict[str, float] = {}
    for _ in range(3):
        ex = executor()
        t0 = time.perf_counter()
        plan = ex.compile(spec)
        t1 = time.perf_counter()
        outcome = await ex.start(plan, {}, events=MemoryEventSink())
        t2 = time.perf_counter()
        assert outcome.status == "succeeded", outcome.error
        run = {"validate_ms": (t1 - t0) * 1e3, "execute_ms": (t2 - t1) * 1e3}
        run["total_ms"] = run["validate_ms"] + run["execute_ms"]
        if not best or run["total_ms"] < best["total_ms"]:
            best = run
    return best


async def sleeps_ms(width: int = 64, seconds: float = 0.1) -> float:
    ex = executor()
    plan = ex.compile(fan_out(width, "delay", {"seconds": seconds}))
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        outcome = await ex.start(plan, {}, events=MemoryEventSink())
        best = min(best, time.perf_counter() - started)
        assert outcome.status == "succeeded", outcome.error
    return best * 1e3


# ---------------------------------------------------------------------------------- LangGraph


def langgraph_graphs() -> dict[str, Any] | None:
    try:
        from langgraph.checkpoint.memory import InMemorySaver
        from langgraph.graph import END, START, StateGraph
    except ImportError:
        return None

    def noop(_state: State) -> dict[str, Any]:
        return {}

    def write(name: str) -> Any:
        def node(_state: State) -> dict[str, Any]:
            return {"trail": [name]}

        return node

    g = StateGraph(State)
    for name in ("a", "b", "c"):
        g.add_node(name, noop)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    g.add_edge("c", END)
    chain3 = g.compile(checkpointer=InMemorySaver())

    f = StateGraph(State)
    f.add_node("src", noop)
    f.add_node("join", noop)
    f.add_edge(START, "src")
    for i in range(5):
        f.add_node(f"b{i}", write(f"b{i}"))
        f.add_edge("src", f"b{i}")
    f.add_edge([f"b{i}" for i in range(5)], "join")
    f.add_edge("join", END)
    fan5 = f.compile(checkpointer=InMemorySaver())
    return {"chain3": (chain3, 3), "fanout5_join": (fan5, 7)}


async def langgraph_per_node_us(graph: Any, nodes: int, runs: int) -> float:
    counter = 0

    async def once() -> None:
        nonlocal counter
        counter += 1
        await graph.ainvoke({"trail": []}, {"configurable": {"thread_id": str(counter)}})

    for _ in range(min(50, runs)):
        await once()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(runs):
            await once()
        best = min(best, time.perf_counter() - started)
    return best / runs / nodes * 1e6


# ---------------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_avg_1m": os.getloadavg()[0],
    }


async def main() -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(), "per_node_us": {}, "langgraph_us": {}}
    results["per_node_us"]["chain3"] = await per_node_us(chain(3), 2_000)
    results["per_node_us"]["fanout5_join"] = await per_node_us(fan_out(5), 1_000)
    graphs = langgraph_graphs()
    if graphs is None:
        print(
            "LangGraph is not installed: .venv/bin/pip install -e '.[bench]'  (langgraph==1.2.22)"
        )
    else:
        for name, (graph, nodes) in graphs.items():
            results["langgraph_us"][name] = await langgraph_per_node_us(graph, nodes, 300)
        results["ratio"] = {
            name: results["langgraph_us"][name] / results["per_node_us"][name]
            for name in results["langgraph_us"]
        }
    results["big_graph_ms"] = {str(n): await big_graph_ms(n) for n in (1_000, 10_000)}
    results["sleep_64x100ms_ms"] = await sleeps_ms()
    return results


def write_report(results: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "engine.json").write_text(json.dumps(results, indent=2) + "\n")
    m = results["machine"]
    lines = [
        "# Workflow engine benchmark",
        "",
        f"Machine: {m['cpu']}, {m['nproc']} CPUs, Python {m['python']}, {m['date']} "
        f"(1-minute load average {m['load_avg_1m']:.1f} while running).",
        "",
        "No-op nodes, in-memory checkpoints, events kept in memory; best of several rounds.",
        "",
        "| graph | Nexus µs/node | LangGraph µs/node | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, ours in results["per_node_us"].items():
        theirs = results["langgraph_us"].get(name)
        ratio = results.get("ratio", {}).get(name)
        lines.append(
            f"| {name} | {ours:.1f} | {'n/a' if theirs is None else f'{theirs:.1f}'} | "
            f"{'n/a' if ratio is None else f'{ratio:.1f}x'} |"
        )
    lines += [
        "",
        "| chain of n nodes | validate ms | execute ms | total ms |",
        "| --- | ---: | ---: | ---: |",
    ]
    for n, r in results["big_graph_ms"].items():
        lines.append(
            f"| {n} | {r['validate_ms']:.1f} | {r['execute_ms']:.1f} | {r['total_ms']:.1f} |"
        )
    lines += ["", f"64 branches of delay(0.1 s) + join: {results['sleep_64x100ms_ms']:.1f} ms.", ""]
    (RESULTS / "engine.md").write_text("\n".join(lines))


if __name__ == "__main__":
    report = asyncio.run(main())
    write_report(report)
    print(json.dumps(report, indent=2))
