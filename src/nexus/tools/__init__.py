"""Tools the agents can call: the registry and the built-ins (calculator, clock, http_fetch)."""

from nexus.tools.calculator import calculator_tool, evaluate_expression
from nexus.tools.clock import clock_tool, current_datetime
from nexus.tools.http_fetch import FetchResult, HttpFetcher, http_fetch_tool
from nexus.tools.registry import (
    MAX_OUTPUT_CHARS,
    ToolHandler,
    ToolRegistry,
    ToolSpec,
    default_registry,
    invoke_tool,
)
from nexus.tools.ssrf import SSRFGuard, ValidatedTarget, blocked_reason, parse_ip_literal

__all__ = [
    "MAX_OUTPUT_CHARS",
    "FetchResult",
    "HttpFetcher",
    "SSRFGuard",
    "ToolHandler",
    "ToolRegistry",
    "ToolSpec",
    "ValidatedTarget",
    "blocked_reason",
    "calculator_tool",
    "clock_tool",
    "current_datetime",
    "default_registry",
    "evaluate_expression",
    "http_fetch_tool",
    "invoke_tool",
    "parse_ip_literal",
]
