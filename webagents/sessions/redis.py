"""``RedisSessionStore``: conversations in Redis, shared by every process and machine that
reaches the server (``WEBAGENTS_SESSIONS=redis://host:6379/0``; needs the ``redis`` extra).

Per session, under ``<prefix>:session:<agent>:<session_id>`` (both parts percent-encoded):
``:messages``, a list of JSON messages that only ever grows; ``:meta``, a hash of ``owner``,
``user_id``, ``version`` (how many messages), ``updated_at`` (the server's clock) and
``epoch`` (random, new whenever the session is created again after a delete); ``:lease``,
held by the turn in progress. Sorted sets ``<prefix>:sessions``, ``<prefix>:agent:<agent>``
and ``<prefix>:user:<user_id>`` list sessions by ``updated_at``.

A turn takes the lease (``SET NX PX``; waiting turns poll with a short capped backoff),
renews it in the background while it runs and deletes it when done, comparing its token so
it never frees another turn's lease. A crashed holder's lease expires after ``lease``
seconds. A turn's writes are one Lua script: the whole turn or nothing, and only while the
turn still holds the session at the version it started from.

Each store object caches the decoded messages of up to ``cache_sessions`` recent sessions,
so a process that served a session's previous turn reads only its hash and the messages
other processes added since: the cost of a turn does not grow with the conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from webagents._urls import redact_url
from webagents.errors import AgentConfigError
from webagents.sessions.base import (
    Session,
    SessionInfo,
    SessionKey,
    SessionStore,
    SessionStoreError,
    count_option,
)

__all__ = ["RedisSessionStore", "SessionStoreError", "SessionStoreUnavailableError"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

_FIRST_WAIT = 0.002  # seconds between a waiting turn's first tries for the lease
_LONGEST_WAIT = 0.05  # the backoff's cap: a freed session is taken within about this long
_LOAD_ATTEMPTS = 5  # a read races only with a delete; five in a row means something is off

# KEYS: messages, meta, lease, all-sessions index, agent index[, user index]
# ARGV: token, version, owner, user_id, member, epoch, user-index prefix, messages...
_APPEND = """
local held = redis.call('GET', KEYS[3])
if held and held ~= ARGV[1] then return {'lease'} end
local stored = tonumber(redis.call('HGET', KEYS[2], 'version') or '0')
if stored ~= tonumber(ARGV[2]) then
  if held then return {'version', tostring(stored)} end
  return {'lease'}  -- this turn's lease expired and another turn ran meanwhile
end
for i = 8, #ARGV, 1000 do  -- in batches: unpack has a stack limit
  redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local old_user = redis.call('HGET', KEYS[2], 'user_id')
redis.call('HSETNX', KEYS[2], 'epoch', ARGV[6])
redis.call('HSET', KEYS[2], 'owner', ARGV[3], 'version', stored + #ARGV - 7, 'updated_at', now)
if #KEYS == 6 then
  redis.call('HSET', KEYS[2], 'user_id', ARGV[4])
  redis.call('ZADD', KEYS[6], now, ARGV[5])
else
  redis.call('HDEL', KEYS[2], 'user_id')
end
if old_user and (#KEYS == 5 or old_user ~= ARGV[4]) then
  redis.call('ZREM', ARGV[7] .. old_user, ARGV[5])
end
redis.call('ZADD', KEYS[4], now, ARGV[5])
redis.call('ZADD', KEYS[5], now, ARGV[5])
return {'ok', redis.call('HGET', KEYS[2], 'epoch')}
"""

# KEYS: messages, meta, lease, all-sessions index, agent index; ARGV: member, user-index prefix
_DELETE = """
local user = redis.call('HGET', KEYS[2], 'user_id')
local existed = redis.call('EXISTS', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
if user then redis.call('ZREM', ARGV[2] .. user, ARGV[1]) end
return existed
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class SessionStoreUnavailableError(SessionStoreError, ConnectionError):
    """The session store's server cannot be reached. The message names the server without
    its password."""


@dataclass(frozen=True, slots=True)
class _Keys:
    messages: str
    meta: str
    lease: str
    member: str  # the session in the indexes: "<agent>:<session_id>", percent-encoded


@dataclass(slots=True)
class _Cached:
    epoch: str
    messages: list[dict[str, Any]]  # only ever extended, and only while epoch is current


@dataclass(slots=True)
class _Lease:
    key: str
    token: str
    renewer: asyncio.Task[None]


class RedisSessionStore(SessionStore[_Lease]):
    """Sessions in Redis at ``url`` (``redis://[:password@]host:port/db``, ``rediss://`` for
    TLS, ``unix:///path.sock?db=0``) or on ``client``, a ``redis.asyncio.Redis`` of the
    caller's (not closed by ``aclose``). ``prefix`` starts every key, so several
    applications can share a database. ``lease`` is how long (seconds) a session stays held
    after its process stops renewing it, e.g. because it crashed; ``cache_sessions`` how many
    conversations this store object keeps decoded in memory."""

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str = "webagents",
        lease: float = 30.0,
        client: aioredis.Redis | None = None,
        cache_sessions: int = 1_000,
    ) -> None:
        cache_sessions = count_option("RedisSessionStore", "cache_sessions", cache_sessions)
        if not isinstance(prefix, str) or not prefix:
            raise AgentConfigError(f"RedisSessionStore(prefix={prefix!r}) must be a non-empty str")
        if isinstance(lease, bool) or not isinstance(lease, int | float) or not lease > 0:
            raise AgentConfigError(f"RedisSessionStore(lease={lease!r}) must be seconds > 0")
        if client is None:
            if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
                shown = redact_url(url) if isinstance(url, str) else url
                raise AgentConfigError(
                    f"RedisSessionStore needs a Redis URL such as 'redis://localhost:6379/0' "
                    f"or a redis.asyncio client, got {shown!r}"
                )
            try:
                client = aioredis.Redis.from_url(url)
                database = urlsplit(url).path.strip("/") if not url.startswith("unix:") else ""
                if database and not database.isdigit():  # redis-py would quietly use 0
                    raise ValueError(f"the database must be a number such as /0, not /{database}")
            except ValueError as exc:
                raise AgentConfigError(
                    f"RedisSessionStore: cannot use {redact_url(url)!r}: {exc}"
                ) from None  # the parser's message may quote the URL with its password
        self._owns_client = url is not None  # it made the client from the URL
        self._client = client
        self.server = redact_url(url) if url is not None else _describe(client)
        self.prefix = prefix
        self.cache_sessions = cache_sessions
        self.lease = float(lease)
        self._lease_ms = max(1, round(self.lease * 1000))
        self._append_script = client.register_script(_APPEND)
        self._delete_script = client.register_script(_DELETE)
        self._renew_script = client.register_script(_RENEW)
        self._release_script = client.register_script(_RELEASE)
        self._cache: OrderedDict[SessionKey, _Cached] = OrderedDict()
        self._holding: dict[SessionKey, str] = {}  # lease tokens of the turns this object runs

    def __repr__(self) -> str:
        return f"<RedisSessionStore {self.server} prefix={self.prefix!r}>"

    # -- turns -------------------------------------------------------------------------------

    async def _lock(self, key: SessionKey) -> _Lease:
        lease_key, token = self._keys(key).lease, secrets.token_hex(16)
        delay = _FIRST_WAIT
        with self._translated():
            while True:
                try:
                    taken = await _call(
                        self._client.set(lease_key, token, nx=True, px=self._lease_ms)
                    )
                except asyncio.CancelledError:
                    # The SET may have landed before the cancellation arrived.
                    await asyncio.shield(self._release_quietly(lease_key, token))
                    raise
                if taken:
                    break
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # jitter spreads waiters
                delay = min(delay * 2, _LONGEST_WAIT)
        self._holding[key] = token
        renewer = asyncio.create_task(self._renew(key, lease_key, token))
        return _Lease(lease_key, token, renewer)

    async def _renew(self, key: SessionKey, lease_key: str, token: str) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                renew = self._renew_script(keys=[lease_key], args=[token, self._lease_ms])
                if not await _call(renew):
                    logger.warning(
                        "the turn of session %s lost its lease (held past %s s without "
                        "renewal); its commit will fail if another turn ran meanwhile",
                        key,
                        self.lease,
                    )
                    return
            except RedisError as exc:  # the next renewal may get through before expiry
                logger.warning("renewing the lease of session %s failed: %s", key, exc)

    async def _unlock(self, key: SessionKey, lease: _Lease) -> None:
        lease.renewer.cancel()
        if self._holding.get(key) == lease.token:
            del self._holding[key]
        # Shielded: a second cancellation must not leave the session held until expiry. A
        # renewal still in flight is harmless: it extends only a lease holding this token.
        await asyncio.shield(self._release_quietly(lease.key, lease.token))
        await asyncio.wait([lease.renewer])

    async def _release_quietly(self, lease_key: str, token: str) -> None:
        try:
            await _call(self._release_script(keys=[lease_key], args=[token]))
        except (RedisError, OSError) as exc:  # the lease expires by itself
            logger.warning("releasing %s on %s failed: %s", lease_key, self.server, exc)

    async def _load(self, key: SessionKey) -> Session | None:
        keys = self._keys(key)
        with self._translated():
            for _ in range(_LOAD_ATTEMPTS):
                meta = _texts(await _call(self._client.hgetall(keys.meta)))
                if not meta:
                    self._cache.pop(key, None)
                    return None
                version, epoch = int(meta.get("version", 0)), meta.get("epoch", "")
                cached = self._cache.get(key)
                if cached is None or cached.epoch != epoch or len(cached.messages) > version:
                    cached = _Cached(epoch, [])
                start = len(cached.messages)
                if start < version:
                    async with self._client.pipeline(transaction=True) as pipe:
                        pipe.hget(keys.meta, "epoch")
                        pipe.lrange(keys.messages, start, version - 1)
                        now_epoch, raw = await _call(pipe.execute())
                    if _text(now_epoch) != epoch or len(raw) != version - start:
                        continue  # deleted, or deleted and started again, since the hash read
                    if len(cached.messages) != start:
                        continue  # a read of this process extended the cache meanwhile
                    cached.messages.extend(json.loads(item) for item in raw)
                self._remember(key, cached)
                return Session(
                    key, list(cached.messages), meta.get("owner"), meta.get("user_id"), version
                )
        raise SessionStoreError(
            f"session {key} on {self.server} changed under {_LOAD_ATTEMPTS} reads in a row "
            f"(deleted and written again each time?) or holds fewer messages than its "
            f"version says; try again, or delete the session"
        )

    async def _append(
        self,
        key: SessionKey,
        version: int,
        added: list[dict[str, Any]],
        owner: str,
        user_id: str | None,
    ) -> None:
        keys = self._keys(key)
        encoded = [_encode(key, n, message) for n, message in enumerate(added)]
        script_keys = [keys.messages, keys.meta, keys.lease, self._all, self._agent(key.agent)]
        if user_id is not None:
            script_keys.append(self._user(user_id))
        token = self._holding.get(key, "")  # none: committed without a turn, only if unheld
        epoch = secrets.token_hex(8)  # kept only if this turn creates the session
        args: list[str | int] = [token, version, owner, user_id or "", keys.member, epoch]
        with self._translated():
            reply = await _call(
                self._append_script(
                    keys=script_keys, args=[*args, f"{self.prefix}:user:", *encoded]
                )
            )
        outcome = [_text(part) for part in reply]
        if outcome[0] == "lease":
            raise SessionStoreError(
                f"the turn of session {key} lost the session to another turn and was not "
                f"stored: it held it past lease={self.lease} s without renewal (event loop "
                f"blocked, or {self.server} unreachable); raise RedisSessionStore(lease=...)"
            )
        if outcome[0] == "version":
            raise SessionStoreError(
                f"the turn of session {key} started at version {version} but {self.server} "
                f"holds version {outcome[1]}: something wrote the session without holding it; "
                f"the turn was not stored"
            )
        cached = self._cache.get(key)
        if cached is None and version == 0:
            cached = _Cached(outcome[1], [])
        if cached is not None and cached.epoch == outcome[1] and len(cached.messages) == version:
            # Decoded again: the cache holds what any process would read, and copies of its own.
            cached.messages.extend(json.loads(item) for item in encoded)
            self._remember(key, cached)
        else:
            self._cache.pop(key, None)

    # -- listing and deleting -----------------------------------------------------------------

    async def list_sessions(
        self, *, agent: str | None = None, user_id: str | None = None
    ) -> list[SessionInfo]:
        if user_id is not None:
            index = self._user(user_id)
        elif agent is not None:
            index = self._agent(agent)
        else:
            index = self._all
        with self._translated():
            members = [_text(m) for m in await _call(self._client.zrevrange(index, 0, -1))]
            keys = [_member_key(m) for m in members]
            if agent is not None:
                keys = [k for k in keys if k.agent == agent]
            async with self._client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hmget(self._keys(key).meta, "owner", "user_id", "version", "updated_at")
                metas = await _call(pipe.execute())
        infos = []
        for key, (owner, user, version, updated_at) in zip(keys, metas, strict=True):
            if version is None:
                continue  # deleted since the index was read
            stored_user = _text(user) if user is not None else None
            if user_id is not None and stored_user != user_id:
                continue
            infos.append(
                SessionInfo(
                    key,
                    _text(owner) if owner is not None else None,
                    stored_user,
                    int(version),
                    float(updated_at),
                )
            )
        return infos

    async def delete(self, key: SessionKey) -> bool:
        keys = self._keys(key)
        self._cache.pop(key, None)
        with self._translated():
            existed = await _call(
                self._delete_script(
                    keys=[keys.messages, keys.meta, keys.lease, self._all, self._agent(key.agent)],
                    args=[keys.member, f"{self.prefix}:user:"],
                )
            )
        return bool(existed)

    async def aclose(self) -> None:
        """Close the connections this store opened (a client given to it stays open). The
        store reconnects if used again."""
        self._cache.clear()
        if self._owns_client:
            await self._client.aclose()

    # -- helpers ------------------------------------------------------------------------------

    @property
    def _all(self) -> str:
        return f"{self.prefix}:sessions"

    def _agent(self, agent: str) -> str:
        return f"{self.prefix}:agent:{agent}"

    def _user(self, user_id: str) -> str:
        return f"{self.prefix}:user:{user_id}"

    def _keys(self, key: SessionKey) -> _Keys:
        member = f"{_quote(key.agent)}:{_quote(key.session_id)}"
        base = f"{self.prefix}:session:{member}"
        return _Keys(f"{base}:messages", f"{base}:meta", f"{base}:lease", member)

    def _remember(self, key: SessionKey, cached: _Cached) -> None:
        self._cache[key] = cached
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_sessions:
            self._cache.popitem(last=False)

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """redis-py's errors as ours, naming the server and never its password."""
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise SessionStoreUnavailableError(
                f"cannot reach the Redis session store at {self.server}: {self._scrubbed(exc)}; "
                f"check that redis-server runs there and that WEBAGENTS_SESSIONS (or the URL "
                f"given to RedisSessionStore) names it"
            ) from None  # redis-py's own error may show connection settings
        except RedisError as exc:
            raise SessionStoreError(
                f"the Redis session store at {self.server} failed: {self._scrubbed(exc)}"
            ) from None

    def _scrubbed(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}"
        password = self._client.connection_pool.connection_kwargs.get("password")
        return text.replace(password, "***") if password else text


async def _call(command: Awaitable[T]) -> T:
    """Await a redis-py command, delivering a cancellation it swallowed: on Python 3.11,
    ``asyncio.wait_for`` (redis-py's socket writes under ``socket_timeout``) returns the
    result when a cancellation arrives as the write completes, and a waiting turn would then
    never stop waiting."""
    task = asyncio.current_task()
    requested = task.cancelling() if task is not None else 0
    result = await command
    if task is not None and task.cancelling() > requested:
        raise asyncio.CancelledError
    return result


def _quote(part: str) -> str:
    return quote(part, safe="")


def _member_key(member: str) -> SessionKey:
    agent, _, session_id = member.partition(":")
    return SessionKey(unquote(agent), unquote(session_id))


def _encode(key: SessionKey, index: int, message: dict[str, Any]) -> str:
    try:
        return json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"message {index} of the turn of session {key} cannot be stored as JSON: {exc}; "
            f"keep message contents to str, numbers, lists and dicts"
        ) from exc


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _texts(mapping: dict[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in mapping.items()}


def _describe(client: aioredis.Redis) -> str:
    """A URL naming the server a given client talks to, for messages."""
    kwargs = client.connection_pool.connection_kwargs
    db = kwargs.get("db", 0)
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={db}"
    return f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{db}"
