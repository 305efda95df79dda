"""``DiscoverySkill``: find agents for an intent by deterministic text relevance."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from webagents.agents.network import network_of
from webagents.agents.skills.base import Skill
from webagents.context import current_context

__all__ = ["DiscoveryConfig", "DiscoverySkill", "rank_agents"]

_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "can",
        "do",
        "for",
        "from",
        "help",
        "how",
        "i",
        "in",
        "is",
        "it",
        "me",
        "my",
        "need",
        "of",
        "on",
        "or",
        "please",
        "the",
        "this",
        "to",
        "what",
        "with",
        "you",
        "your",
    ]
)
# Where a query word matches counts this much; a score is the share of the best possible.
_WEIGHTS = (("name", 3.0), ("description", 2.0), ("tools", 1.0), ("tags", 1.0))


def _undouble(stem: str) -> str:
    """``shipp`` -> ``ship``; ``bill`` keeps its double ``l`` (so do ``ss`` and ``zz``)."""
    if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "lsz":
        return stem[:-1]
    return stem


def _stem(word: str) -> str:
    """A small suffix stemmer, enough for plurals and simple inflections to meet:
    ``invoices``/``invoice``/``invoiced``, ``refunds``/``refunded``, ``billing``/``bill``,
    ``policies``/``policy``, ``taxes``/``tax``, ``shipping``/``ship``, ``pricing``/``price``.
    Deterministic; short words are kept whole."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("es") and word[:-2].endswith(("s", "x", "z", "ch", "sh")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    elif word.endswith("ing") and len(word) >= 7:
        word = _undouble(word[:-3])
    elif word.endswith("ed") and len(word) >= 6:
        word = _undouble(word[:-2])
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def _words(text: str) -> set[str]:
    words = set()
    for word in _WORD.findall(text.lower().replace("_", " ").replace("-", " ")):
        if word not in _STOPWORDS:
            words.add(_stem(word))
    return words


def check_max_results(max_results: object) -> int:
    """``max_results`` as given when it is an int >= 1; a ``ValueError`` saying so otherwise."""
    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
        raise ValueError(f"max_results must be an int >= 1, got {max_results!r}")
    return max_results


def _fields(card: dict[str, Any]) -> dict[str, set[str]]:
    tools = " ".join(
        f"{t.get('name', '')} {t.get('description') or ''}" if isinstance(t, dict) else str(t)
        for t in card.get("tools") or ()
    )
    tags = " ".join(str(tag) for tag in card.get("tags", ()))
    return {
        "name": _words(card["name"]),
        "description": _words(card.get("description") or ""),
        "tools": _words(tools),
        "tags": _words(tags),
    }


def rank_agents(intent: str, cards: list[dict[str, Any]], max_results: int) -> list[dict[str, Any]]:
    """Cards scored against ``intent`` in [0, 1], best first; ties by name; zero scores dropped."""
    check_max_results(max_results)
    query = _words(intent)
    if not query:
        return []
    best = sum(weight for _, weight in _WEIGHTS) * len(query)
    ranked = []
    for card in cards:
        fields = _fields(card)
        score = sum(weight * len(query & fields[field]) for field, weight in _WEIGHTS) / best
        if score > 0:
            ranked.append(
                {
                    "name": card["name"],
                    "description": card.get("description") or "",
                    "url": card.get("url"),
                    "score": round(score, 4),
                }
            )
    ranked.sort(key=lambda entry: (-entry["score"], entry["name"]))
    return ranked[:max_results]


class DiscoveryConfig(BaseModel):
    """``DiscoverySkill`` takes no config keys yet; any key is a mistake worth naming."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DiscoverySkill(Skill):
    """Find agents that can handle an intent among the local and remote agents of the
    network: the attached agent's, else (a skill kept inside another skill) the current run's
    agent's, else the default network.

    Ranking is deterministic: query words found in an agent's name weigh most, then its
    description, then its tools and tags (``metadata={"tags": [...]}``). The agent the skill
    belongs to is never listed; a remote agent's ``url`` is shown without credentials or
    query string (results often reach a model).
    """

    config_model = DiscoveryConfig

    async def find_agents(self, intent: str, max_results: int = 5) -> list[dict[str, Any]]:
        """Up to ``max_results`` dicts with ``name``, ``description``, ``url``, ``score``."""
        check_max_results(max_results)
        network = network_of(self.agent)
        asker = self._asker()
        cards: list[dict[str, Any]] = []
        for agent in network.local_agents():
            if agent.name != asker:
                card = agent.card()
                cards.append({**card, "url": None, "tags": agent.metadata.get("tags", ())})
        for remote in network.remote_agents():
            if remote.name != asker:
                cards.append(
                    {
                        "name": remote.name,
                        "description": remote.description,
                        "tools": [],
                        "url": remote.shown_url,
                    }
                )
        return rank_agents(intent, cards, max_results)

    def _asker(self) -> str | None:
        """The agent asking: the one this skill is attached to, else (a skill kept inside
        another skill, as the seed's router does) the agent of the current run."""
        if self.agent is not None:
            return self.agent.name
        context = current_context.get()
        return context.agent_name if context is not None else None
