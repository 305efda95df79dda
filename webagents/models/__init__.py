"""Models: the ``Model`` protocol, the ``openai`` provider and model resolution by name."""

from __future__ import annotations

from collections.abc import Callable

from webagents.errors import AgentConfigError
from webagents.models.base import (
    Model,
    ModelRequest,
    ModelResponse,
    ToolCall,
    Usage,
    with_unique_call_ids,
)
from webagents.models.openai_provider import OpenAIModel

__all__ = [
    "Model",
    "ModelRequest",
    "ModelResponse",
    "OpenAIModel",
    "ToolCall",
    "Usage",
    "register_provider",
    "resolve_model",
    "with_unique_call_ids",
]

ModelFactory = Callable[[str], Model]

_PROVIDERS: dict[str, ModelFactory] = {"openai": OpenAIModel}


def register_provider(prefix: str, factory: ModelFactory) -> None:
    """Make ``"<prefix>/<name>"`` model strings resolve through ``factory(name)``."""
    if "/" in prefix or not prefix:
        raise ValueError(f"provider prefix {prefix!r} must be a non-empty word without '/'")
    _PROVIDERS[prefix] = factory


def resolve_model(spec: str | Model) -> Model:
    """A Model from a Model object or a ``"provider/name"`` string (a bare name means openai)."""
    if not isinstance(spec, str):
        if not isinstance(spec, Model):
            raise AgentConfigError(
                f"model {spec!r} is neither a 'provider/name' string nor a Model "
                f"(an object with name, complete() and stream())"
            )
        return spec
    prefix, _, name = spec.partition("/")
    if not name:
        prefix, name = "openai", spec
    factory = _PROVIDERS.get(prefix)
    if factory is None:
        from webagents.plugins.manager import plugin_registry  # a plugin may provide it

        factory = plugin_registry().get_model_factory(prefix)
    if factory is None:
        raise AgentConfigError(
            f"unknown model provider {prefix!r} in {spec!r}; known providers: "
            f"{', '.join(sorted(_PROVIDERS))}. Install a plugin that registers it, or pass a Model"
        )
    return factory(name)
