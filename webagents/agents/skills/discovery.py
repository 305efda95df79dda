"""``DiscoverySkill``: find agents for an intent by deterministic text relevance."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote, urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from webagents._urls import is_url, redact_url
from webagents.agents.network import network_of
from webagents.agents.skills.base import Skill
from webagents.agents.skills.decorators import tool
from webagents.context import current_context

if TYPE_CHECKING:
    import httpx

__all__ = ["DiscoveryConfig", "DiscoverySkill", "DiscoveryToolSkill", "rank_agents"]

logger = logging.getLogger(__name__)

DEFAULT_TTL = 60.0
DEFAULT_TIMEOUT = 5.0
#: The most entries ``discover_agents`` gives a model, whatever it asks for.
TOOL_MAX_RESULTS = 20
#: A server's listing larger than this is skipped (a listing is a few KB).
LISTING_LIMIT = 1 << 20
#: A remote entry's description is cut to this many characters (results reach models).
DESCRIPTION_LIMIT = 1000

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


def _base_url(url: str) -> str:
    parts = urlsplit(url)
    if not is_url(url) or not parts.hostname:
        raise ValueError("must be an http(s):// URL with a host")  # no echo: credentials
    if parts.query or parts.fragment:
        raise ValueError("must be a base URL without query or fragment")
    return url.rstrip("/")


def _entry_url(value: object) -> str | None:
    """A directory entry's ``url``, shown without credentials or query; None if not a URL."""
    if isinstance(value, str) and is_url(value) and urlsplit(value).hostname:
        return redact_url(value)
    return None


def _card(entry: object, url: str | None) -> dict[str, Any] | None:
    """A listing entry as a card to rank, or None when it is not an agent card."""
    if not isinstance(entry, dict) or url is None:
        return None
    name, description = entry.get("name"), entry.get("description")
    tools, tags = entry.get("tools") or [], entry.get("tags") or []
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        return None
    if description is not None and not isinstance(description, str):
        return None
    if not isinstance(tools, list) or not isinstance(tags, list):
        return None
    return {
        "name": name,
        "description": (description or "")[:DESCRIPTION_LIMIT],
        "tools": [tool for tool in tools if isinstance(tool, dict | str)],
        "tags": [str(tag) for tag in tags if isinstance(tag, str | int | float)],
        "url": url,
    }


def _entries(listing: object) -> list[Any] | None:
    """The entries of a listing: a JSON list of cards (or ``{"agents": [...]}``)."""
    if isinstance(listing, dict):
        listing = listing.get("agents")
    return listing if isinstance(listing, list) else None


def _reason(error: BaseException) -> str:
    """Why a source was skipped, for the log: never the error's text (it may hold a URL with
    credentials, or a server's body)."""
    if isinstance(error, TimeoutError):
        return "no answer within the deadline"
    if isinstance(error, json.JSONDecodeError | UnicodeDecodeError):
        return "malformed JSON"
    if isinstance(error, _Skip):
        return str(error)
    return type(error).__name__


class _Skip(Exception):
    """A source answered, but not with a listing; the message says how (no data in it)."""


class DiscoveryConfig(BaseModel):
    """``DiscoverySkill`` config: ``servers`` (base URLs of webagents servers, listed by their
    ``GET /agents``), ``directory`` (a JSON file listing agent cards, each with a ``url``),
    ``ttl`` (seconds a server's listing is kept, default 60), ``timeout`` (total deadline per
    server fetch, default 5 s)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    servers: list[Annotated[str, AfterValidator(_base_url)]] = Field(default_factory=list)
    directory: str | None = None
    ttl: float = Field(DEFAULT_TTL, ge=0, allow_inf_nan=False)
    timeout: float = Field(DEFAULT_TIMEOUT, gt=0, allow_inf_nan=False)


class DiscoverySkill(Skill):
    """Find agents that can handle an intent: the agents of the network (the attached
    agent's, else, for a skill kept inside another skill, the current run's agent's, else the
    default network), then the listings of the configured ``servers`` and ``directory``.

    Ranking is deterministic: query words found in an agent's name weigh most, then its
    description, then its tools and tags (``metadata={"tags": [...]}``); plurals and simple
    inflections match. The agent the skill belongs to is never listed; a name listed twice is
    shown once (the network's agent first, then servers in order, then the directory). URLs
    are shown without credentials or query string (results often reach a model).

    Entries from servers and the directory are data: nothing is registered. To call one, the
    developer registers it (``register_remote``, or NLI's ``agents`` config).

    ``clock`` (seconds, monotonic; for tests) times the ``ttl`` of server listings.
    """

    config_model = DiscoveryConfig

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> None:
        super().__init__(config, **kwargs)
        settings: DiscoveryConfig = self.settings
        self.servers = list(settings.servers)
        self.directory = settings.directory
        self.ttl = settings.ttl
        self.timeout = settings.timeout
        self._clock = clock
        self._listings: dict[str, tuple[float, list[dict[str, Any]]]] = {}

    async def find_agents(self, intent: str, max_results: int = 5) -> list[dict[str, Any]]:
        """Up to ``max_results`` dicts with ``name``, ``description``, ``url``, ``score``.

        A server that is down, slow or answers something other than a listing, and a missing
        or malformed directory, are skipped with a WARNING on the ``webagents`` logger."""
        check_max_results(max_results)
        asker = self._asker()
        cards = [
            *self._network_cards(),
            *await self._server_cards(),
            *self._directory_cards(),
        ]
        seen: set[str] = set() if asker is None else {asker}
        unique = []
        for card in cards:
            if card["name"] not in seen:
                seen.add(card["name"])
                unique.append(card)
        return rank_agents(intent, unique, max_results)

    def _network_cards(self) -> list[dict[str, Any]]:
        network = network_of(self.agent)
        cards: list[dict[str, Any]] = []
        for agent in network.local_agents():
            card = agent.card()
            cards.append({**card, "url": None, "tags": agent.metadata.get("tags", ())})
        for remote in network.remote_agents():
            cards.append(
                {
                    "name": remote.name,
                    "description": remote.description,
                    "tools": [],
                    "url": remote.shown_url,
                }
            )
        return cards

    async def _server_cards(self) -> list[dict[str, Any]]:
        """The cards of every configured server, each listing fetched again after ``ttl``."""
        now = self._clock()
        stale = [
            base
            for base in self.servers
            if base not in self._listings or now - self._listings[base][0] >= self.ttl
        ]
        if stale:
            import httpx

            async with httpx.AsyncClient(follow_redirects=False) as client:
                fetched = await asyncio.gather(*(self._fetch(client, base) for base in stale))
            for base, cards in zip(stale, fetched, strict=True):
                self._listings[base] = (now, cards)
        return [card for base in self.servers for card in self._listings[base][1]]

    async def _fetch(self, client: httpx.AsyncClient, base: str) -> list[dict[str, Any]]:
        """``GET {base}/agents`` within ``timeout`` seconds in all; [] (logged) on any failure."""
        try:
            async with asyncio.timeout(self.timeout):
                async with client.stream(
                    "GET", f"{base}/agents", headers={"Accept": "application/json"}
                ) as response:
                    if response.status_code != 200:
                        raise _Skip(f"HTTP {response.status_code}")
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > LISTING_LIMIT:
                            raise _Skip(f"listing larger than {LISTING_LIMIT} bytes")
            entries = _entries(json.loads(body))
            if entries is None:
                raise _Skip("not a JSON list of agent cards")
        except Exception as error:  # a listing is optional: never fail the caller for it
            logger.warning("discovery: server %s skipped: %s", redact_url(base), _reason(error))
            return []
        cards = [_card(entry, self._listed_url(base, entry)) for entry in entries]
        return [card for card in cards if card is not None]

    @staticmethod
    def _listed_url(base: str, entry: object) -> str | None:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            return None
        return redact_url(f"{base}/agents/{quote(name, safe='')}")

    def _directory_cards(self) -> list[dict[str, Any]]:
        """The directory file's cards, read on every call (it is small and local)."""
        if self.directory is None:
            return []
        path = Path(self.directory).expanduser()
        try:
            entries = _entries(json.loads(path.read_text(encoding="utf-8")))
            if entries is None:
                raise _Skip("not a JSON list of agent cards")
        except (OSError, ValueError, _Skip) as error:
            logger.warning("discovery: directory %s skipped: %s", path, _reason(error))
            return []
        cards = [
            _card(entry, _entry_url(entry.get("url") if isinstance(entry, dict) else None))
            for entry in entries
        ]
        return [card for card in cards if card is not None]

    def _asker(self) -> str | None:
        """The agent asking: the one this skill is attached to, else (a skill kept inside
        another skill, as the seed's router does) the agent of the current run."""
        if self.agent is not None:
            return self.agent.name
        context = current_context.get()
        return context.agent_name if context is not None else None


class DiscoveryToolSkill(DiscoverySkill):
    """``DiscoverySkill`` that also offers the model a read-only ``discover_agents`` tool
    (a plain ``DiscoverySkill`` offers no tools: the code around the model asks it). Same
    config."""

    @tool
    async def discover_agents(self, intent: str, max_results: int = 5) -> list[dict[str, Any]]:
        """Find agents that could handle a request, best first: each with its name,
        description and url (null for an agent of this network). Read-only: it calls no one.

        Args:
            intent: what the user needs, in a few words
            max_results: how many agents at most (1 to 20)
        """
        found = await self.find_agents(intent, max_results=min(max_results, TOOL_MAX_RESULTS))
        return [
            {"name": entry["name"], "description": entry["description"], "url": entry["url"]}
            for entry in found
        ]
