"""The embedded model driven through the Agents SDK (real SmolLM2, temperature 0)."""

from __future__ import annotations

import asyncio

import pytest
from agents import Agent, ModelSettings, Runner, function_tool
from agents.models.interface import ModelTracing
from pydantic import BaseModel

from nexus.providers import llamacpp_runtime as runtime
from nexus.providers.llamacpp import LlamaCppModel, ensure_loaded, is_loaded
from nexus.providers.llamacpp_runtime import GenerationRequest, RuntimeConfig

pytestmark = pytest.mark.model

GREEDY = ModelSettings(temperature=0.0, max_tokens=64)


@pytest.fixture
def model() -> LlamaCppModel:
    return LlamaCppModel(max_tokens=64)


async def test_ensure_loaded_loads_once():
    await ensure_loaded()
    assert is_loaded()
    first = runtime.shared_llama()
    await ensure_loaded()
    assert runtime.shared_llama() is first


async def test_chat_answer_with_usage(model):
    agent = Agent(name="geo", model=model, model_settings=GREEDY)
    result = await Runner.run(agent, "What is the capital of France?")
    assert "Paris" in result.final_output
    usage = result.context_wrapper.usage
    assert usage.requests == 1 and usage.input_tokens > 10 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


async def test_streamed_deltas_concatenate_to_the_final_output(model):
    agent = Agent(name="geo", model=model, model_settings=GREEDY)
    streamed = Runner.run_streamed(agent, "What is the capital of France?")
    deltas = [
        event.data.delta
        async for event in streamed.stream_events()
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta"
    ]
    assert len(deltas) > 2
    assert "".join(deltas) == streamed.final_output
    assert "Paris" in streamed.final_output
    assert streamed.context_wrapper.usage.output_tokens == len(deltas)


async def test_plain_and_streamed_paths_agree(model):
    args = (None, "Name a color.", GREEDY, [], None, [], ModelTracing.DISABLED)
    ids = {"previous_response_id": None, "conversation_id": None, "prompt": None}
    response = await model.get_response(*args, **ids)
    events = [event async for event in model.stream_response(*args, **ids)]
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output[0].content[0].text == response.output[0].content[0].text
    assert completed.response.usage.output_tokens == response.usage.output_tokens
    assert [e.sequence_number for e in events] == list(range(len(events)))


class City(BaseModel):
    name: str
    country: str


async def test_structured_output_validates_against_its_schema(model):
    agent = Agent(name="geo", model=model, model_settings=GREEDY, output_type=City)
    result = await Runner.run(agent, "Paris is the capital of France. Name the city and country.")
    assert isinstance(result.final_output, City)
    assert result.final_output.name == "Paris"


async def test_forced_tool_call_reaches_the_function_tool(model):
    seen: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        seen.append(city)
        return f"Sunny in {city}"

    agent = Agent(
        name="weather",
        model=model,
        tools=[get_weather],
        model_settings=ModelSettings(temperature=0.0, max_tokens=64, tool_choice="get_weather"),
        tool_use_behavior="stop_on_first_tool",
    )
    result = await Runner.run(agent, "What is the weather in Paris?")
    assert seen == ["Paris"]
    assert result.final_output == "Sunny in Paris"


async def test_text_answer_still_streams_when_tools_are_offered(model):
    @function_tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        return city

    agent = Agent(name="chat", model=model, tools=[get_weather], model_settings=GREEDY)
    streamed = Runner.run_streamed(agent, "Hello! Who are you?")
    deltas = [
        event.data.delta
        async for event in streamed.stream_events()
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta"
    ]
    assert len(deltas) > 2
    assert "".join(deltas) == streamed.final_output
    assert not streamed.final_output.startswith("{")


async def test_abandoned_stream_stops_the_worker_promptly():
    config = RuntimeConfig()
    prompt = "<|im_start|>user\nCount from 1 to 500.<|im_end|>\n<|im_start|>assistant\n"
    generation = runtime.stream(config, GenerationRequest(prompt=prompt, max_tokens=400))
    pieces = generation.__aiter__()
    await anext(pieces)
    await pieces.aclose()
    # The worker frees up within a few tokens, so the next job does not wait for 400 tokens.
    quick = GenerationRequest(prompt=prompt, max_tokens=1)
    result = await asyncio.wait_for(runtime.complete(config, quick), timeout=1.0)
    assert result.completion_tokens == 1


async def test_tool_result_is_read_back_and_the_run_ends(model):
    seen: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        seen.append(city)
        return f"Sunny in {city}"

    agent = Agent(
        name="weather",
        model=model,
        tools=[get_weather],
        model_settings=ModelSettings(temperature=0.0, max_tokens=64, tool_choice="get_weather"),
    )
    result = await Runner.run(agent, "What is the weather in Paris?", max_turns=4)
    assert seen == ["Paris"]
    assert isinstance(result.final_output, str) and result.final_output
    assert result.context_wrapper.usage.requests == 2
