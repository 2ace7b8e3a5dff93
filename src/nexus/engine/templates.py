"""Templates and expressions in node properties, rendered by Jinja2's ``SandboxedEnvironment``.

Names a template can use: ``inputs`` (the workflow inputs), ``nodes.<id>.<port>`` (outputs of
finished nodes, e.g. ``nodes.research.output``), ``input.<port>`` (values on this node's own input
ports) and, inside a loop body, ``item`` and ``index``. Unknown names are errors
(``StrictUndefined``), never silently empty.

A string that is exactly one ``{{ expression }}`` evaluates to the expression's native value
(a list stays a list); any other string containing ``{{``/``{%`` renders to text. Compiled
templates are cached by source. Output size is bounded while rendering, and ``*``/``**`` refuse
to build huge values, so a template cannot exhaust memory.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from nexus.core.errors import InvalidInputError

MAX_OUTPUT_CHARS = 1_000_000
MAX_OPERAND = 1_000_000

_SINGLE_EXPRESSION = re.compile(r"^\{\{(?P<expr>(?:(?!\}\}).)*)\}\}$", re.DOTALL)
_NODE_REFERENCE = re.compile(r"\bnodes\.([A-Za-z_][A-Za-z0-9_-]*)|\bnodes\[['\"]([^'\"]+)['\"]\]")


class TemplateRenderError(InvalidInputError):
    """A template failed to compile or render; the message says which part."""


def is_template(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def node_references(source: str) -> set[str]:
    """The node ids a template mentions as ``nodes.<id>`` or ``nodes['<id>']``."""
    return {a or b for a, b in _NODE_REFERENCE.findall(source)}


class _BoundedEnvironment(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            if isinstance(right, int | float) and abs(right) > 1_000:
                raise TemplateRenderError("Exponent too large in template (limit 1000).")
            return operator.pow(left, right)
        sized = [v for v in (left, right) if isinstance(v, str | list | tuple)]
        counts = [v for v in (left, right) if isinstance(v, int) and not isinstance(v, bool)]
        if sized and counts and len(sized[0]) * counts[0] > MAX_OPERAND:
            raise TemplateRenderError(f"Template builds a value over {MAX_OPERAND} items.")
        return operator.mul(left, right)


class TemplateEngine:
    """Compiles and renders templates; one per executor, shared by every run."""

    def __init__(self, *, max_output_chars: int = MAX_OUTPUT_CHARS) -> None:
        self.max_output_chars = max_output_chars
        self._env = _BoundedEnvironment(undefined=StrictUndefined, autoescape=False)
        self._cache: dict[str, Callable[[Mapping[str, Any]], Any]] = {}

    def compile(self, source: str) -> Callable[[Mapping[str, Any]], Any]:
        """A function of the template context; raises ``TemplateRenderError`` on bad syntax."""
        fn = self._cache.get(source)
        if fn is not None:
            return fn
        try:
            match = _SINGLE_EXPRESSION.match(source.strip())
            if match is not None:
                fn = self._expression(match.group("expr"), source)
            else:
                fn = self._text(source)
        except TemplateError as exc:
            raise TemplateRenderError(f"Template does not compile: {exc}") from exc
        self._cache[source] = fn
        return fn

    def compile_expression(self, expression: str) -> Callable[[Mapping[str, Any]], Any]:
        """A bare expression (``inputs.n > 3``); ``{{ }}`` around it is accepted too."""
        text = expression.strip()
        match = _SINGLE_EXPRESSION.match(text)
        key = "\0expr:" + (match.group("expr") if match is not None else text)
        fn = self._cache.get(key)
        if fn is None:
            try:
                fn = self._expression(key[6:], expression)
            except TemplateError as exc:
                raise TemplateRenderError(f"Expression does not compile: {exc}") from exc
            self._cache[key] = fn
        return fn

    def render(self, source: str, context: Mapping[str, Any]) -> Any:
        return self.compile(source)(context)

    def compile_value(self, value: Any) -> Callable[[Mapping[str, Any]], Any] | None:
        """A renderer for a property value (nested dicts/lists of templates), or ``None`` when
        the value holds no template and can be used as it is."""
        if isinstance(value, str):
            return self.compile(value) if is_template(value) else None
        if isinstance(value, dict):
            parts = {k: self.compile_value(v) for k, v in value.items()}
            if all(p is None for p in parts.values()):
                return None

            def render_dict(ctx: Mapping[str, Any]) -> dict[str, Any]:
                return {k: (p(ctx) if p is not None else value[k]) for k, p in parts.items()}

            return render_dict
        if isinstance(value, list):
            items = [self.compile_value(v) for v in value]
            if all(p is None for p in items):
                return None

            def render_list(ctx: Mapping[str, Any]) -> list[Any]:
                return [p(ctx) if p is not None else v for p, v in zip(items, value, strict=True)]

            return render_list
        return None

    def _expression(self, expr: str, source: str) -> Callable[[Mapping[str, Any]], Any]:
        compiled = self._env.compile_expression(expr, undefined_to_none=False)

        def evaluate(ctx: Mapping[str, Any]) -> Any:
            try:
                result = compiled(**ctx)
                if isinstance(result, StrictUndefined):
                    str(result)  # raises UndefinedError naming the missing variable
            except TemplateRenderError:
                raise
            except Exception as exc:
                raise TemplateRenderError(f"Template {source!r} failed: {exc}") from exc
            if isinstance(result, str) and len(result) > self.max_output_chars:
                raise TemplateRenderError(
                    f"Template {source!r} output is over {self.max_output_chars} characters."
                )
            return result

        return evaluate

    def _text(self, source: str) -> Callable[[Mapping[str, Any]], str]:
        template = self._env.from_string(source)
        limit = self.max_output_chars

        def render(ctx: Mapping[str, Any]) -> str:
            parts: list[str] = []
            size = 0
            try:
                for chunk in template.generate(**ctx):
                    size += len(chunk)
                    if size > limit:
                        raise TemplateRenderError(
                            f"Template output is over {limit} characters; shorten the template."
                        )
                    parts.append(chunk)
            except TemplateRenderError:
                raise
            except Exception as exc:
                raise TemplateRenderError(f"Template {source!r} failed: {exc}") from exc
            return "".join(parts)

        return render
