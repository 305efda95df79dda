"""``RouterSkill``: handoff conditions from configuration (keywords and regular expressions)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from webagents import AgentConfigError, Context, Skill, handoff, hook

__all__ = ["RouteMatch", "RouterSkill", "Rule"]

CONFIG_KEYS: Final = ("rules", "default")
RULE_KEYS: Final = (
    "target",
    "keywords",
    "patterns",
    "priority",
    "metadata",
    "reason",
    "case_sensitive",
)
DEFAULT_PRIORITY: Final = 50
CONTEXT_KEY: Final = "router_rule"


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

    def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        _check_keys(self.config, CONFIG_KEYS, "RouterSkill config", "Config keys")
        self.rules: tuple[Rule, ...] = _parse_rules(self.config.get("rules", []))
        self.default: str | None = _parse_default(self.config.get("default"))

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


def _check_keys(data: Mapping[str, Any], allowed: tuple[str, ...], where: str, label: str) -> None:
    for key in data:
        if key in allowed:
            continue
        close = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise AgentConfigError(f"{where}: unknown key {key!r}{hint} {label}: {', '.join(allowed)}")


def _parse_default(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise AgentConfigError(
            f"RouterSkill config: 'default' must be an agent name or None, got {value!r}"
        )
    return value


def _parse_rules(rules: object) -> tuple[Rule, ...]:
    if not isinstance(rules, list | tuple):
        raise AgentConfigError(
            f"RouterSkill config: 'rules' must be a list of rule mappings, got "
            f"{type(rules).__name__}; write {{'rules': [{{'target': 'billing', "
            f"'keywords': ['invoice']}}]}}"
        )
    parsed = [_parse_rule(index, rule) for index, rule in enumerate(rules)]
    return tuple(sorted(parsed, key=lambda rule: (rule.priority, rule.index)))


def _parse_rule(index: int, rule: object) -> Rule:
    where = f"RouterSkill rules[{index}]"
    if not isinstance(rule, Mapping):
        raise AgentConfigError(
            f"{where} must be a mapping like {{'target': 'billing', 'keywords': ['invoice']}}, "
            f"got {rule!r}"
        )
    target = rule.get("target")
    if isinstance(target, str) and target.strip():
        where = f"{where} (target {target!r})"
    _check_keys(rule, RULE_KEYS, where, "Rule keys")
    if target is None:
        raise AgentConfigError(
            f"{where}: missing 'target'; add 'target': '<agent name>' (the agent this rule "
            f"hands the conversation to)"
        )
    if not isinstance(target, str) or not target.strip():
        raise AgentConfigError(f"{where}: 'target' must be a non-empty agent name, got {target!r}")
    case_sensitive = rule.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        raise AgentConfigError(
            f"{where}: 'case_sensitive' must be true or false, got {case_sensitive!r}"
        )
    flags = 0 if case_sensitive else re.IGNORECASE
    keywords = _strings(rule.get("keywords", []), "keywords", where, '["invoice", "refund"]')
    patterns = _strings(rule.get("patterns", []), "patterns", where, '["\\\\border\\\\s+\\\\d+"]')
    if not keywords and not patterns:
        raise AgentConfigError(
            f"{where}: the rule has no keywords and no patterns, so it can never match; add "
            f"'keywords': [...] or 'patterns': [...], or remove the rule"
        )
    priority = rule.get("priority", DEFAULT_PRIORITY)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise AgentConfigError(
            f"{where}: 'priority' must be an int (lower is tried first), got {priority!r}"
        )
    metadata = rule.get("metadata", {})
    if not isinstance(metadata, Mapping):
        raise AgentConfigError(
            f"{where}: 'metadata' must be a mapping (it becomes the handoff's metadata), "
            f"got {metadata!r}"
        )
    reason = rule.get("reason")
    if reason is not None and (not isinstance(reason, str) or not reason.strip()):
        raise AgentConfigError(f"{where}: 'reason' must be a non-empty string, got {reason!r}")
    return Rule(
        index=index,
        target=target,
        keywords=tuple((keyword, _keyword_pattern(keyword, flags)) for keyword in keywords),
        patterns=tuple(_compile(pattern, flags, where) for pattern in patterns),
        priority=priority,
        metadata=dict(metadata),
        reason=reason,
    )


def _strings(value: object, key: str, where: str, example: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise AgentConfigError(
            f"{where}: {key!r} must be a list of strings, got {value!r}; write {example}"
        )
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise AgentConfigError(
                f"{where}: {key!r} holds {item!r}; each entry must be a non-empty string"
            )
    return list(value)


def _keyword_pattern(keyword: str, flags: int) -> re.Pattern[str]:
    """A keyword matches as a whole word (or phrase: any whitespace between its words)."""
    body = r"\s+".join(re.escape(word) for word in keyword.split())
    return re.compile(rf"(?<!\w){body}(?!\w)", flags)


def _compile(pattern: str, flags: int, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as error:
        raise AgentConfigError(
            f"{where}: invalid regular expression {pattern!r} in 'patterns': {error}; fix the "
            f"pattern (in JSON and YAML double-quoted strings, write a backslash as \\\\)"
        ) from error
