"""Embedded model throughput: our SDK provider against llama-cpp-python itself.

One process, one loaded model, one prompt, greedy decoding and the same max_tokens for:

(a) ``Llama.create_chat_completion(stream=True)``: llama-cpp-python's own streaming chat API;
(b) ``LlamaCppModel.stream_response``: our provider (worker thread, queue, Responses events);
(c) a raw ``Llama.generate`` loop: the ceiling, no detokenisation or formatting at all.

The KV cache is reset before every measured call so prompt evaluation is always paid in full.
Reports medians over several repetitions; tokens/s is the decode rate after the first token.

Run: ``.venv/bin/python bench/bench_embedded_model.py`` (writes bench/results/embedded_model.*).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import platform
import statistics
import time
from pathlib import Path

import agents
import llama_cpp
from agents import ModelSettings
from agents.models.interface import ModelTracing

from nexus.providers import llamacpp_runtime as runtime
from nexus.providers.llamacpp import LlamaCppModel
from nexus.providers.llamacpp_runtime import RuntimeConfig

PROMPT = "Write a short story about a robot who learns to paint."
MAX_TOKENS = 128
REPETITIONS = 7
RESULTS = Path(__file__).parent / "results"


def measure_llama_chat(llm: llama_cpp.Llama) -> dict[str, float | str]:
    llm.reset()
    start = time.perf_counter()
    first = 0.0
    pieces: list[str] = []
    for chunk in llm.create_chat_completion(
        [{"role": "user", "content": PROMPT}],
        stream=True,
        temperature=0.0,
        max_tokens=MAX_TOKENS,
    ):
        content = chunk["choices"][0]["delta"].get("content")
        if content:
            if not pieces:
                first = time.perf_counter()
            pieces.append(content)
    end = time.perf_counter()
    return _figures(start, first, end, len(pieces), "".join(pieces))


async def measure_provider(model: LlamaCppModel, llm: llama_cpp.Llama) -> dict[str, float | str]:
    llm.reset()
    settings = ModelSettings(temperature=0.0, max_tokens=MAX_TOKENS)
    start = time.perf_counter()
    first = 0.0
    pieces: list[str] = []
    tokens = 0
    async for event in model.stream_response(
        None,
        PROMPT,
        settings,
        [],
        None,
        [],
        ModelTracing.DISABLED,
        previous_response_id=None,
        conversation_id=None,
        prompt=None,
    ):
        if event.type == "response.output_text.delta":
            if not pieces:
                first = time.perf_counter()
            pieces.append(event.delta)
        elif event.type == "response.completed":
            tokens = event.response.usage.output_tokens
    end = time.perf_counter()
    return _figures(start, first, end, tokens, "".join(pieces))


def measure_generate(llm: llama_cpp.Llama, prompt_tokens: list[int]) -> dict[str, float | str]:
    llm.reset()
    start = time.perf_counter()
    first = 0.0
    tokens: list[int] = []
    eos = llm.token_eos()
    for token in llm.generate(prompt_tokens, temp=0.0, top_k=40, top_p=0.95, min_p=0.05):
        if not tokens:
            first = time.perf_counter()
        if token == eos:
            break
        tokens.append(token)
        if len(tokens) >= MAX_TOKENS:
            break
    end = time.perf_counter()
    text = llm.detokenize(tokens).decode("utf-8", errors="replace")
    return _figures(start, first, end, len(tokens), text)


def _figures(start: float, first: float, end: float, tokens: int, text: str) -> dict:
    decode_s = end - first
    return {
        "ttft_ms": (first - start) * 1000,
        "tokens": tokens,
        "tokens_per_s": (tokens - 1) / decode_s if decode_s > 0 else 0.0,
        "total_s": end - start,
        "text": text,
    }


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def machine() -> dict[str, str | int]:
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
        "nproc": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "llama_cpp_python": llama_cpp.__version__,
        "openai_agents": agents.__version__,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


async def main() -> dict:
    config = RuntimeConfig()
    llm = runtime.shared_llama(config)
    model = LlamaCppModel(config=config, max_tokens=MAX_TOKENS)
    prompt_text = llama_cpp.llama_chat_format.format_chatml(
        [{"role": "user", "content": PROMPT}]
    ).prompt
    prompt_tokens = llm.tokenize(prompt_text.encode(), add_bos=False, special=True)

    # Warm-up: first calls pay one-off allocation costs.
    measure_llama_chat(llm)
    await measure_provider(model, llm)
    measure_generate(llm, prompt_tokens)

    runs: dict[str, list[dict]] = {"llama_chat_stream": [], "provider_stream": [], "generate": []}
    for _ in range(REPETITIONS):  # interleaved so drift in CPU speed hits every variant alike
        runs["llama_chat_stream"].append(measure_llama_chat(llm))
        runs["provider_stream"].append(await measure_provider(model, llm))
        runs["generate"].append(measure_generate(llm, prompt_tokens))

    texts = {name: variant[0]["text"] for name, variant in runs.items()}
    medians = {
        name: {
            "tokens_per_s": round(_median(variant, "tokens_per_s"), 1),
            "ttft_ms": round(_median(variant, "ttft_ms"), 2),
            "tokens": int(_median(variant, "tokens")),
            "total_s": round(_median(variant, "total_s"), 3),
        }
        for name, variant in runs.items()
    }
    ours, theirs = medians["provider_stream"], medians["llama_chat_stream"]
    return {
        "machine": machine(),
        "prompt": PROMPT,
        "max_tokens": MAX_TOKENS,
        "temperature": 0.0,
        "repetitions": REPETITIONS,
        "medians": medians,
        "ratio_provider_vs_llama_chat": round(ours["tokens_per_s"] / theirs["tokens_per_s"], 3),
        "ratio_provider_vs_generate": round(
            ours["tokens_per_s"] / medians["generate"]["tokens_per_s"], 3
        ),
        "ttft_delta_ms": round(ours["ttft_ms"] - theirs["ttft_ms"], 2),
        "same_text_provider_and_llama_chat": texts["provider_stream"] == texts["llama_chat_stream"],
        "targets": {"ratio_min": 0.95, "ttft_delta_max_ms": 10.0},
    }


def write_results(report: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "embedded_model.json").write_text(json.dumps(report, indent=2) + "\n")
    m = report["machine"]
    rows = [
        "# Embedded model benchmark (SmolLM2-135M Q4_1)",
        "",
        f"Machine: {m['cpu']}, nproc {m['nproc']}, Python {m['python']}, "
        f"llama-cpp-python {m['llama_cpp_python']}, openai-agents {m['openai_agents']}, "
        f"{m['date']}",
        "",
        f"Prompt: {report['prompt']!r}; temperature 0; max_tokens {report['max_tokens']}; "
        f"medians of {report['repetitions']} interleaved repetitions; KV cache reset each call.",
        "",
        "| variant | tokens/s (decode) | TTFT ms | tokens | total s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    labels = {
        "llama_chat_stream": "(a) llama `create_chat_completion(stream=True)`",
        "provider_stream": "(b) Nexus `LlamaCppModel.stream_response`",
        "generate": "(c) raw `Llama.generate` loop",
    }
    for name, label in labels.items():
        row = report["medians"][name]
        rows.append(
            f"| {label} | {row['tokens_per_s']} | {row['ttft_ms']} | {row['tokens']} | "
            f"{row['total_s']} |"
        )
    rows += [
        "",
        f"- ours / llama chat tokens/s: **{report['ratio_provider_vs_llama_chat']}** "
        f"(target >= {report['targets']['ratio_min']})",
        f"- ours / raw generate tokens/s: {report['ratio_provider_vs_generate']}",
        f"- TTFT delta ours - llama chat: **{report['ttft_delta_ms']} ms** "
        f"(target <= +{report['targets']['ttft_delta_max_ms']} ms)",
        f"- same text from (a) and (b): {report['same_text_provider_and_llama_chat']}",
        "",
    ]
    (RESULTS / "embedded_model.md").write_text("\n".join(rows))


if __name__ == "__main__":
    agents.set_tracing_disabled(True)
    result = asyncio.run(main())
    write_results(result)
    print((RESULTS / "embedded_model.md").read_text())
