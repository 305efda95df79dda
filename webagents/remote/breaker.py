"""A circuit breaker per remote agent: ``threshold`` failed calls in a row open it; an open
breaker fails at once with ``CircuitOpenError`` until ``cool_down`` seconds have passed; then
one trial call (without retries) half-opens it: its success closes the breaker, its failure
opens it again. ``clock`` is injectable for tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from webagents.remote.errors import CircuitOpenError, RemoteAgentError, RemoteStatusError

if TYPE_CHECKING:
    from webagents.agents.network import RemoteAgent

__all__ = ["Breakers", "counts_against"]


@dataclass(slots=True)
class _Breaker:
    failures: int = 0
    opened_at: float | None = None
    trial: bool = False  # a half-open trial call is in flight


class Breakers:
    """The breakers of one client, by remote agent (name and URL)."""

    def __init__(self, threshold: int, cool_down: float, clock: Callable[[], float]) -> None:
        self.threshold = threshold
        self.cool_down = cool_down
        self._clock = clock
        self._breakers: dict[tuple[str, str], _Breaker] = {}

    def state(self, remote: RemoteAgent) -> str:
        """``"closed"``, ``"open"`` (failing at once) or ``"half-open"`` (cool-down over: the
        next call is the trial)."""
        breaker = self._breakers.get(_key(remote))
        if breaker is None or breaker.opened_at is None:
            return "closed"
        if breaker.trial or self._clock() - breaker.opened_at >= self.cool_down:
            return "half-open"
        return "open"

    def admit(self, remote: RemoteAgent) -> bool:
        """Whether the call may go; True when it is the half-open trial. ``CircuitOpenError``
        when the breaker is open (or a trial is already in flight)."""
        breaker = self._breakers.get(_key(remote))
        if breaker is None or breaker.opened_at is None:
            return False
        left = self.cool_down - (self._clock() - breaker.opened_at)
        if left > 0 or breaker.trial:
            raise CircuitOpenError(
                remote.name,
                remote.url,
                f"is not called: circuit open after {breaker.failures} failures in a row"
                + (f" (retry in {left:.3g}s)" if left > 0 else " (a trial call is in flight)"),
            )
        breaker.trial = True
        return True

    def record(self, remote: RemoteAgent, error: RemoteAgentError | None) -> None:
        """A call ended: well (``error`` None), or with ``error``."""
        key = _key(remote)
        if error is None or not counts_against(error):
            self._breakers.pop(key, None)
            return
        breaker = self._breakers.setdefault(key, _Breaker())
        breaker.failures += 1
        if breaker.trial or breaker.failures >= self.threshold:
            breaker.opened_at = self._clock()
        breaker.trial = False

    def abandon(self, remote: RemoteAgent) -> None:
        """The trial call was cancelled or left unfinished: the next call may try again."""
        breaker = self._breakers.get(_key(remote))
        if breaker is not None:
            breaker.trial = False


def _key(remote: RemoteAgent) -> tuple[str, str]:
    return (remote.name, remote.url)


def counts_against(error: RemoteAgentError) -> bool:
    """Whether a failed call counts toward opening the breaker: the remote being down, slow,
    overloaded or broken does; a refusal of this request (401, 404, 422, ...) does not, and
    since it shows the remote is up, it resets the count like a success."""
    if isinstance(error, RemoteStatusError):
        return error.status_code is not None and (
            error.status_code >= 500 or error.status_code == 429
        )
    return not isinstance(error, CircuitOpenError)
