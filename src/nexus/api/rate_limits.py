"""The request budgets of the API: runs per token (or user) and per IP, logins per IP."""

from __future__ import annotations

from nexus.security.principal import Principal
from nexus.security.ratelimit import RateLimiter
from nexus.settings import Settings

MINUTE = 60.0


class RateLimits:
    def __init__(self, settings: Settings, limiter: RateLimiter | None = None) -> None:
        self.settings = settings
        self.limiter = limiter if limiter is not None else RateLimiter()

    def check_run(self, principal: Principal, ip: str) -> None:
        caller = (
            f"run-token:{principal.token_id}"
            if principal.token_id is not None
            else f"run-user:{principal.user_id}"
        )
        self.limiter.check(caller, self.settings.run_rate_per_minute, MINUTE)
        self.limiter.check(f"run-ip:{ip}", self.settings.run_rate_per_ip_per_minute, MINUTE)

    def check_login(self, ip: str) -> None:
        self.limiter.check(f"login-ip:{ip}", self.settings.login_rate_per_ip_per_minute, MINUTE)
