"""Dispatch of runs: inline asyncio tasks in this process (the default)."""
