from __future__ import annotations

from llama_cpp.llama_chat_format import format_chatml

from nexus.providers.llamacpp_messages import ChatMessage, chatml_prompt, to_chat_messages


def test_plain_string_input_gets_one_system_and_one_user_turn():
    assert to_chat_messages("Be brief.", "Hi") == [
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "Hi"),
    ]


def test_tool_calls_and_results_become_readable_turns():
    items = [
        {"role": "developer", "content": "Use metric units."},
        {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city": "Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "Sunny, 21 C"},
    ]
    assert to_chat_messages("Be brief.", items) == [
        ChatMessage("system", "Be brief.\n\nUse metric units."),
        ChatMessage("user", "Weather in Paris?"),
        ChatMessage("assistant", '(called get_weather with {"city": "Paris"})'),
        ChatMessage(
            "user",
            "Result of get_weather: Sunny, 21 C\n"
            "Use this result to answer the question in plain text.",
        ),
    ]


def test_assistant_history_and_consecutive_user_turns_are_merged():
    items = [
        {"role": "user", "content": "a"},
        {"role": "user", "content": "b"},
        {
            "type": "message",
            "role": "assistant",
            "id": "msg_1",
            "status": "completed",
            "content": [{"type": "output_text", "text": "c", "annotations": []}],
        },
    ]
    assert to_chat_messages(None, items) == [
        ChatMessage("system", ""),
        ChatMessage("user", "a\n\nb"),
        ChatMessage("assistant", "c"),
    ]


def test_prompt_is_identical_to_llama_cpp_chatml_format():
    messages = [
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "Hi"),
        ChatMessage("assistant", "Hello!"),
        ChatMessage("user", "Capital of France?"),
    ]
    expected = format_chatml([{"role": m.role, "content": m.content} for m in messages]).prompt
    assert chatml_prompt(messages) == expected
