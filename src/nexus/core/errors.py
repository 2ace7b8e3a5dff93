"""The one exception tree of Nexus.

Every error a user can cause or fix is a ``NexusError``. Messages say how to fix the problem.
The HTTP status for each class is chosen in ``nexus.api.errors`` and nowhere else::

    NexusError                      code
    ├── NotFoundError               not_found            (unknown id or name)
    ├── InvalidInputError           invalid_input        (bad spec or request; names the field)
    │   └── UnknownModelError       unknown_model
    ├── ConflictError               conflict             (state does not allow the action)
    ├── AuthenticationError         unauthenticated      (no or bad credentials)
    │   └── AccountLockedError      account_locked       (too many failed logins)
    ├── PermissionDeniedError       forbidden            (visible, but not allowed)
    ├── RateLimitedError            rate_limited         (slow down; retry_after seconds)
    ├── VaultError                  vault_error          (a secret cannot be decrypted)
    ├── ConfigurationError          not_configured       (a setting or key is missing)
    │   └── ProviderNotConfiguredError provider_not_configured
    ├── ProviderError               provider_error       (a model call failed)
    ├── ToolError                   tool_error           (a tool refused or failed)
    │   └── SSRFBlockedError        ssrf_blocked
    └── RunError                    run_error            (a run could not finish)
        ├── GuardrailTripped        guardrail_tripped
        ├── RunCancelled            run_cancelled
        └── LimitExceededError      limit_exceeded       (a workflow limit; names which)
"""

from __future__ import annotations


class NexusError(Exception):
    """Base of every error Nexus raises on purpose."""

    code = "nexus_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


class NotFoundError(NexusError):
    code = "not_found"


class InvalidInputError(NexusError):
    """Bad input. ``details`` lists every problem found at once (``{node, field, message}``)."""

    code = "invalid_input"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        details: list[dict[str, object]] | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.details = details

    def to_dict(self) -> dict[str, object]:
        body = super().to_dict()
        if self.details is not None:
            body["details"] = self.details
        return body


class UnknownModelError(InvalidInputError):
    code = "unknown_model"


class ConflictError(NexusError):
    code = "conflict"


class AuthenticationError(NexusError):
    code = "unauthenticated"


class AccountLockedError(AuthenticationError):
    code = "account_locked"


class PermissionDeniedError(NexusError):
    code = "forbidden"


class RateLimitedError(NexusError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class VaultError(NexusError):
    code = "vault_error"


class ConfigurationError(NexusError):
    code = "not_configured"


class ProviderNotConfiguredError(ConfigurationError):
    code = "provider_not_configured"


class ProviderError(NexusError):
    code = "provider_error"


class ToolError(NexusError):
    code = "tool_error"


class SSRFBlockedError(ToolError):
    code = "ssrf_blocked"


class RunError(NexusError):
    code = "run_error"


class GuardrailTripped(RunError):
    code = "guardrail_tripped"

    def __init__(self, message: str, *, guardrail: str, stage: str) -> None:
        super().__init__(message)
        self.guardrail = guardrail
        self.stage = stage


class RunCancelled(RunError):
    code = "run_cancelled"


class LimitExceededError(RunError):
    """A workflow run went over one of its limits (steps, run time, loop size, payload)."""

    code = "limit_exceeded"
