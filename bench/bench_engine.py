"""Workflow engine overhead: Nexus executor vs LangGraph, large graphs, wide concurrency.

    .venv/bin/python bench/bench_engine.py            # writes bench/results/engine.{json,md}

No-op nodes, in-memory checkpoints (ours: ``InMemoryCheckpointer``; LangGraph: ``InMemorySaver``),
events collected in memory. LangGraph comes from the bench-only extra:
``.venv/bin/pip install -e '.[bench]'`` (or ``pip install langgraph==1.2.22``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
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


class GcWatch:
    """CPU time spent in full (generation 2) garbage collections, via ``gc.callbacks``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.count = 0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started
            self.count += 1

    def reset(self) -> None:
        self.seconds, self.count = 0.0, 0


GC = GcWatch()


async def per_node_us(spec: WorkflowSpec, runs: int) -> dict[str, float]:
    """Best of 7 rounds of ``runs`` runs: wall and CPU (process) time per node."""
    ex = executor()
    plan = ex.compile(spec)
    for _ in range(min(200, runs)):
        await ex.start(plan, {}, events=MemoryEventSink())
    wall = cpu = float("inf")
    for _ in range(7):
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(runs):
            await ex.start(plan, {}, events=MemoryEventSink())
        wall = min(wall, time.perf_counter() - w0)
        cpu = min(cpu, time.process_time() - c0)
    nodes = runs * len(spec.nodes)
    return {"wall": wall / nodes * 1e6, "cpu": cpu / nodes * 1e6}


async def one_big_run(spec: WorkflowSpec) -> dict[str, float]:
    ex = executor()
    GC.reset()
    w0, c0 = time.perf_counter(), time.process_time()
    plan = ex.compile(spec)
    w1, c1 = time.perf_counter(), time.process_time()
    outcome = await ex.start(plan, {}, events=MemoryEventSink())
    w2, c2 = time.perf_counter(), time.process_time()
    assert outcome.status == "succeeded", outcome.error
    return {
        "validate_ms": (w1 - w0) * 1e3,
        "execute_ms": (w2 - w1) * 1e3,
        "total_ms": (w2 - w0) * 1e3,
        "cpu_validate_ms": (c1 - c0) * 1e3,
        "cpu_execute_ms": (c2 - c1) * 1e3,
        "cpu_total_ms": (c2 - c0) * 1e3,
        "gc_full_ms": GC.seconds * 1e3,
        "gc_full_collections": GC.count,
    }


async def big_graph_ms(n: int, total_nodes: int = 50_000) -> dict[str, Any]:
    """A chain of ``n`` nodes, validated and run with a fresh executor each time, repeated
    until ``total_nodes`` nodes have run (so every size runs the same amount of work and pays
    its share of full garbage collections). Reports the median run, the best run, and the
    amortized CPU per node including collections."""
    spec = chain(n)
    await one_big_run(spec)  # warm-up
    runs = [await one_big_run(spec) for _ in range(max(3, total_nodes // n))]
    by_total = sorted(runs, key=lambda r: r["total_ms"])
    cpu = sum(r["cpu_total_ms"] for r in runs)
    settled = []
    for _ in range(5):
        gc.collect()  # start from a collected heap: no earlier garbage is charged to this run
        settled.append(await one_big_run(spec))
    settled.sort(key=lambda r: r["total_ms"])
    return {
        "runs": len(runs),
        "median": by_total[len(runs) // 2],
        "best": by_total[0],
        "amortized_cpu_us_per_node": cpu / (len(runs) * n) * 1e3,
        "amortized_gc_full_us_per_node": sum(r["gc_full_ms"] for r in runs) / (len(runs) * n) * 1e3,
        "after_collect_median": settled[2],
    }


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
    chain3 = await per_node_us(chain(3), 2_000)
    fan5 = await per_node_us(fan_out(5), 1_000)
    results["per_node_us"] = {"chain3": chain3["wall"], "fanout5_join": fan5["wall"]}
    results["per_node_cpu_us"] = {"chain3": chain3["cpu"], "fanout5_join": fan5["cpu"]}
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
    small, large = results["big_graph_ms"]["1000"], results["big_graph_ms"]["10000"]
    results["growth_10k_over_1k"] = {
        "median_wall": large["median"]["total_ms"] / small["median"]["total_ms"],
        "median_cpu": large["median"]["cpu_total_ms"] / small["median"]["cpu_total_ms"],
        "median_cpu_without_full_gc": (
            large["median"]["cpu_total_ms"] - large["median"]["gc_full_ms"]
        )
        / (small["median"]["cpu_total_ms"] - small["median"]["gc_full_ms"]),
        "amortized_cpu_per_node": large["amortized_cpu_us_per_node"]
        / small["amortized_cpu_us_per_node"],
        "after_collect_median_wall": large["after_collect_median"]["total_ms"]
        / small["after_collect_median"]["total_ms"],
        "after_collect_median_cpu": large["after_collect_median"]["cpu_total_ms"]
        / small["after_collect_median"]["cpu_total_ms"],
    }
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
        "No-op nodes, in-memory checkpoints, events kept in memory. Per-node figures: best of 7 "
        "rounds, wall clock and process CPU time (the CPU figure is the one to trust when the "
        "machine is shared).",
        "",
        "| graph | Nexus µs/node (wall) | Nexus µs/node (CPU) | LangGraph µs/node (wall) | ratio |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, ours in results["per_node_us"].items():
        cpu = results["per_node_cpu_us"][name]
        theirs = results["langgraph_us"].get(name)
        ratio = results.get("ratio", {}).get(name)
        lines.append(
            f"| {name} | {ours:.1f} | {cpu:.1f} | {'n/a' if theirs is None else f'{theirs:.1f}'} | "
            f"{'n/a' if ratio is None else f'{ratio:.1f}x'} |"
        )
    lines += [
        "",
        "Chains of n no-op nodes, validated and run with a fresh executor, repeated until 50,000 "
        "nodes have run at each size. Median run (wall ms; CPU ms; of which full garbage "
        "collections), and the amortized CPU per node over all runs:",
        "",
        "| n | runs | validate ms | execute ms | total ms | CPU ms | full GC ms | "
        "amortized CPU µs/node |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, r in results["big_graph_ms"].items():
        med = r["median"]
        lines.append(
            f"| {n} | {r['runs']} | {med['validate_ms']:.1f} | {med['execute_ms']:.1f} | "
            f"{med['total_ms']:.1f} | {med['cpu_total_ms']:.1f} | {med['gc_full_ms']:.1f} | "
            f"{r['amortized_cpu_us_per_node']:.1f} |"
        )
    lines += [
        "",
        "The same chains, 5 runs each started right after `gc.collect()` (median run; full "
        "collections still set off inside the run are counted):",
        "",
        "| n | validate ms | execute ms | total ms | CPU ms | full GC ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, r in results["big_graph_ms"].items():
        med = r["after_collect_median"]
        lines.append(
            f"| {n} | {med['validate_ms']:.1f} | {med['execute_ms']:.1f} | "
            f"{med['total_ms']:.1f} | {med['cpu_total_ms']:.1f} | {med['gc_full_ms']:.1f} |"
        )
    g = results["growth_10k_over_1k"]
    lines += [
        "",
        f"10k / 1k: median run {g['median_wall']:.1f}x wall, {g['median_cpu']:.1f}x CPU, "
        f"{g['median_cpu_without_full_gc']:.1f}x CPU without full collections; amortized CPU "
        f"per node {g['amortized_cpu_per_node']:.2f}x; runs started after a collection "
        f"{g['after_collect_median_wall']:.1f}x wall, {g['after_collect_median_cpu']:.1f}x CPU.",
        "",
        f"64 branches of delay(0.1 s) + join: {results['sleep_64x100ms_ms']:.1f} ms.",
        "",
    ]
    (RESULTS / "engine.md").write_text("\n".join(lines))


if __name__ == "__main__":
    report = asyncio.run(main())
    write_report(report)
    print(json.dumps(report, indent=2))
