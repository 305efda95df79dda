"""Error types raised by webagents. Every message names the thing at fault and the fix."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "AgentConfigError",
    "DefinitionError",
    "HandoffError",
    "HookError",
    "InvalidRequestError",
    "MaxTurnsExceeded",
    "MissingAPIKeyError",
    "ModelError",
    "PluginLoadError",
    "ToolArgumentsError",
    "ToolRetry",
    "UnknownAgentError",
    "WebAgentsError",
]


class WebAgentsError(Exception):
    """Base class of every error webagents raises on purpose."""


class DefinitionError(WebAgentsError, TypeError):
    """A decorator or skill class is malformed; raised when the class is defined."""


class AgentConfigError(WebAgentsError, ValueError):
    """An agent or team is misconfigured; raised at construction."""


class UnknownAgentError(WebAgentsError, LookupError):
    """No agent is known under the requested name.

    The message names the missing agent (shortened, a URL without credentials) and at most a
    few close matches among ``candidates``, the names the asker could have meant: never every
    agent in the process, since this text reaches models and other tenants' callers.
    """

    def __init__(self, name: str, candidates: Iterable[str] = ()) -> None:
        import difflib

        from webagents._urls import shown_name

        self.name = name
        others = [c for c in candidates if c != name]
        self.suggestions = difflib.get_close_matches(name, others, n=3, cutoff=0.6)
        text = f"unknown agent {shown_name(name)!r}"
        if self.suggestions:
            text += "; did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        super().__init__(text)


class HandoffError(WebAgentsError):
    """Raised in a ``before_handoff`` hook to veto the handoff; the reason reaches the result."""


class HookError(WebAgentsError):
    """A user hook raised; the message names ``Skill.method`` and the event."""

    def __init__(self, where: str, event: str, cause: BaseException) -> None:
        self.where = where
        self.event = event
        super().__init__(f"{event} hook {where} raised {type(cause).__name__}: {cause}")


class ModelError(WebAgentsError):
    """The model could not be called or answered something unusable.

    ``status_code`` is the endpoint's HTTP status when it answered with an error (None for a
    connection failure, a timeout or an unusable body). ``retryable`` says whether the same
    request may succeed later: connection errors, timeouts, 408, 409, 429 and 5xx are; 400,
    401, 403, 404 and 422 are not. Left out, it follows from ``status_code``. ``model`` and
    ``endpoint`` (a URL without credentials or query) name what failed, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retryable: bool | None = None,
        model: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        if retryable is None:
            retryable = status_code is not None and (
                status_code in (408, 409, 429) or status_code >= 500
            )
        self.retryable: bool = retryable
        self.model = model
        self.endpoint = endpoint


class MissingAPIKeyError(ModelError):
    """A provider needs an API key that is not set."""

    def __init__(self, variable: str, provider: str) -> None:
        self.variable = variable
        super().__init__(
            f"the {provider} provider needs an API key: set the {variable} environment variable "
            f"(and OPENAI_BASE_URL for any OpenAI-compatible server), or pass a Model object"
        )


class MaxTurnsExceeded(WebAgentsError):
    """An agent kept calling tools past its ``max_turns`` limit."""

    def __init__(self, agent: str, max_turns: int, result: Any = None) -> None:
        self.agent = agent
        self.max_turns = max_turns
        self.result = result
        super().__init__(
            f"agent {agent!r} made {max_turns} model calls without a final answer; "
            f"raise BaseAgent(max_turns=...) if the task needs more tool rounds"
        )


class PluginLoadError(WebAgentsError):
    """A plugin failed to import or register; carries the entry point and distribution."""

    def __init__(self, entry_point: str, distribution: str, version: str, cause: BaseException):
        self.entry_point = entry_point
        self.distribution = distribution
        self.version = version
        super().__init__(
            f"plugin {entry_point!r} from {distribution} {version} failed to load: "
            f"{type(cause).__name__}: {cause}"
        )


class ToolRetry(WebAgentsError):
    """Raised by a tool to send the model ``message`` (what to fix) instead of an answer.

    ``raise ToolRetry("order ids look like ORD-123; ask the user for theirs")``: the model
    reads the message as the tool's result and may call again. Any other exception reaches
    the model only as "tool 'x' failed" (its text is logged), so secrets in error messages
    stay out of the conversation.
    """


class ToolArgumentsError(ValueError):
    """The model's arguments do not fit the tool.

    ``str(e)`` is sent back to the model, so it is short and names the tool and each bad field,
    e.g. ``invalid arguments for tool 'lookup': order_id: Field required``.
    """


class InvalidRequestError(WebAgentsError, ValueError):
    """The messages or options given to a run are malformed."""
