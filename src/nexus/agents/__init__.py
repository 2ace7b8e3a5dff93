"""Agents: stored specs compiled to OpenAI Agents SDK agents, guardrails, and agent runs."""
