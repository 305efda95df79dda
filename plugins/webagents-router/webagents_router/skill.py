"""``RouterSkill``: handoff conditions from configuration (keywords and regular expressions)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from webagents import Context, Skill, handoff, hook

__all__ = ["RouteMatch", "RouterConfig", "RouterSkill", "Rule", "RuleConfig"]

DEFAULT_PRIORITY: Final = 50
CONTEXT_KEY: Final = "router_rule"


def _agent_name(value: str) -> str:
    if not value.strip():
        raise ValueError("must be a non-empty agent name")
    return value


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("must be a non-empty string")
    return value


AgentName = Annotated[str, AfterValidator(_agent_name)]
Text = Annotated[str, AfterValidator(_text)]


class RuleConfig(BaseModel):
    """One entry of ``rules``: where to route, and when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: AgentName
    keywords: list[Text] = Field(default_factory=list)
    patterns: list[Text] = Field(default_factory=list)
    priority: StrictInt = DEFAULT_PRIORITY
    metadata: dict[str, Any] = Field(default_factory=dict)
    reason: Text | None = None
    case_sensitive: StrictBool = False

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(
                    f"invalid regular expression {pattern!r}: {error}; fix the pattern (in JSON "
                    f"and YAML double-quoted strings, write a backslash as \\\\)"
                ) from None
        return patterns

    @model_validator(mode="after")
    def _can_match(self) -> RuleConfig:
        if not self.keywords and not self.patterns:
            raise ValueError(
                "the rule has no keywords and no patterns, so it can never match; add "
                "'keywords': [...] or 'patterns': [...], or remove the rule"
            )
        return self


class RouterConfig(BaseModel):
    """``RouterSkill``'s config: ``rules`` and a ``default`` target."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[RuleConfig] = Field(default_factory=list)
    default: AgentName | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """One validated routing rule; ``index`` is its position in ``config["rules"]``."""

    index: int
    target: str
    keywords: tuple[tuple[str, re.Pattern[str]], ...]
    patterns: tuple[re.Pattern[str], ...]
    priority: int = DEFAULT_PRIORITY
    metadata: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None

    def matched(self, query: str) -> str | None:
        """What in ``query`` makes this rule match (``"keyword 'refund'"``), or None."""
        for keyword, compiled in self.keywords:
            if compiled.search(query):
                return f"keyword {keyword!r}"
        for pattern in self.patterns:
            if pattern.search(query):
                return f"pattern {pattern.pattern!r}"
        return None


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """The outcome of routing one query: the target and why. ``rule`` is None for the default."""

    target: str
    reason: str
    metadata: dict[str, Any]
    rule: int | None
    matched: str | None

    def to_dict(self, agent: str | None) -> dict[str, Any]:
        return {
            "agent": agent,
            "target": self.target,
            "rule": self.rule,
            "matched": self.matched,
            "reason": self.reason,
            "metadata": dict(self.metadata),
        }


class RouterSkill(Skill):
    """Hand the conversation to another agent when the user's message matches a rule.

    Config: ``rules`` (a list of ``{"target", "keywords", "patterns", "priority", "metadata",
    "reason", "case_sensitive"}``) and ``default`` (an agent name for when no rule matches, or
    None: the agent answers itself). Rules are tried by (priority, order); the first match wins.
    """

    config_model: ClassVar[type[RouterConfig]] = RouterConfig

    def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)  # validates config against RouterConfig
        settings: RouterConfig = self.settings
        rules = [_rule(index, rule) for index, rule in enumerate(settings.rules)]
        self.rules: tuple[Rule, ...] = tuple(sorted(rules, key=lambda r: (r.priority, r.index)))
        self.default: str | None = settings.default

    def match(self, query: str) -> RouteMatch | None:
        """The route for ``query``: the first matching rule, else the default, else None."""
        for rule in self.rules:
            matched = rule.matched(query)
            if matched is None:
                continue
            reason = rule.reason or f"router rule {rule.index} ({rule.target}): matched {matched}"
            return RouteMatch(rule.target, reason, dict(rule.metadata), rule.index, matched)
        if self.default is not None:
            reason = f"router: no rule matched; default route to {self.default}"
            return RouteMatch(self.default, reason, {}, None, None)
        return None

    @handoff()
    def route(self, query: str, context: Context) -> str | None:
        """Route by the router's configured rules."""
        found = self.match(query)
        if found is None:
            context.pop(CONTEXT_KEY, None)
            return None
        context[CONTEXT_KEY] = found.to_dict(self.agent.name if self.agent else None)
        return found.target

    @hook("before_handoff", priority=10)
    def describe_handoff(self, context: Context) -> Context:
        """Give the handoff the matched rule's metadata and reason (they reach the record)."""
        route = context.get(CONTEXT_KEY)
        if (
            not isinstance(route, dict)
            or context.get("handoff_trigger") != "condition"
            or context.get("handoff_agent") != route.get("target")
            or route.get("agent") != context.agent_name
        ):
            return context  # not this router's handoff (e.g. the model chose a transfer)
        existing = context.get("handoff_metadata")
        base = dict(existing) if isinstance(existing, Mapping) else {}
        context["handoff_metadata"] = {**base, **route["metadata"]}
        context["handoff_reason"] = route["reason"]
        return context


def _rule(index: int, config: RuleConfig) -> Rule:
    flags = 0 if config.case_sensitive else re.IGNORECASE
    return Rule(
        index=index,
        target=config.target,
        keywords=tuple((keyword, _keyword_pattern(keyword, flags)) for keyword in config.keywords),
        patterns=tuple(re.compile(pattern, flags) for pattern in config.patterns),
        priority=config.priority,
        metadata=dict(config.metadata),
        reason=config.reason,
    )


def _keyword_pattern(keyword: str, flags: int) -> re.Pattern[str]:
    """A keyword matches as a whole word (or phrase: any whitespace between its words)."""
    body = r"\s+".join(re.escape(word) for word in keyword.split())
    return re.compile(rf"(?<!\w){body}(?!\w)", flags)
