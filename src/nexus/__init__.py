"""Nexus: a self-hosted agentic AI platform (agents, workflows, sandboxed code, modules)."""

__version__ = "0.1.0"
