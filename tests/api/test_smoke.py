from agents.testing import assistant_message


async def test_create_and_run_agent(client, providers) -> None:
    providers.scripted("echo").enqueue([assistant_message("hello there")])
    created = await client.post("/api/v1/agents", json={"name": "echo", "model": "test:echo"})
    assert created.status_code == 201, created.text
    agent_id = created.json()["id"]
    ran = await client.post(f"/api/v1/agents/{agent_id}/run", json={"input": "hi"})
    assert ran.status_code == 200, ran.text
    body = ran.json()
    assert body["status"] == "succeeded"
    assert body["output"] == "hello there"
