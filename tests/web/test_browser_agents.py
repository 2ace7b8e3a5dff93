"""The agent builder and its test chat in the browser, with the real embedded model."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import expect

from .browser_support import NexusServer, save_screenshot

EMBEDDED_MODEL = "local:smollm2-135m"
REPLY_TIMEOUT_S = 90.0


def test_create_an_agent_in_the_builder_and_chat_with_it(page: Any, nexus: NexusServer) -> None:
    page.goto("/agents")
    page.get_by_role("button", name="New agent").click()
    expect(page).to_have_url(re.compile(r"/agents/new$"))

    page.get_by_label("Name", exact=True).fill("browser-helper")
    page.get_by_label("Description", exact=True).fill("Answers in one short sentence.")
    page.get_by_label("Instructions", exact=True).fill(
        "You are a helpful assistant. Answer in one short sentence."
    )
    page.get_by_label("Model", exact=True).select_option(EMBEDDED_MODEL)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(re.compile(r"/agents/(?!new)[^/]+$"))
    agent_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    stored = nexus.api.get(f"/api/v1/agents/{agent_id}")
    assert stored.status_code == 200, stored.text
    agent = stored.json()
    assert (agent["name"], agent["model"]) == ("browser-helper", EMBEDDED_MODEL)
    assert agent["instructions"].startswith("You are a helpful assistant.")
    save_screenshot(page, "screen-agent-builder")

    page.get_by_label("Message", exact=True).fill("What colour is the sky?")
    send = page.get_by_role("button", name="Send", exact=True)
    send.click()
    expect(page.get_by_test_id("chat-message-user")).to_contain_text("What colour is the sky?")
    reply = page.get_by_test_id("chat-message-assistant").last

    # Streamed: the reply is seen growing in place (marked data-streaming) before it is complete.
    seen: list[str] = []
    deadline = time.monotonic() + REPLY_TIMEOUT_S
    while time.monotonic() < deadline:
        if reply.count():
            streaming = reply.get_attribute("data-streaming") is not None
            text = reply.inner_text().strip()
            if text and (not seen or text != seen[-1]):
                seen.append(text)
            if not streaming and text and send.is_enabled():
                break
        time.sleep(0.03)
    else:
        raise AssertionError(f"the reply did not finish in {REPLY_TIMEOUT_S} s: {seen!r}")
    final = reply.inner_text().strip()
    partial = [t for t in seen if t != final]
    assert partial, f"the reply appeared in one piece, not streamed: {seen!r}"
    assert all(final.startswith(t) for t in partial), seen
    assert len(final) > len(partial[0])

    # The reply is the model's: the recorded run of this agent has the same text as its output.
    runs = nexus.api.get("/api/v1/runs", params={"agent_id": agent_id}).json()["items"]
    assert [r["status"] for r in runs] == ["succeeded"], runs
    assert final == str(runs[0]["output"]).strip()
    save_screenshot(page, "screen-agent-chat")
