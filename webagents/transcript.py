"""``Transcript``: a session turn's conversation without a copy of its stored history.

A turn on a session of 10,000 messages would otherwise copy the store's list into the run
(and free the copy after), twice touching every stored message. The run's list holds only
what this turn added; the stored history stays the store's, read in place, and is joined
in front of the list only when something needs the whole conversation as one list: user
code reading ``context.messages``, a handoff, a remote owner, ``RunResult.messages``.
The model is sent the history without the join (``model_calls.request_messages``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, islice
from typing import Any, SupportsIndex

__all__ = ["Transcript", "added_since", "all_messages", "joined", "stored_part"]

Message = dict[str, Any]


class Transcript(list[Message]):
    """This turn's messages, after ``history`` (the store's list, never changed here).

    Only the first ``stored`` messages of ``history`` belong to the conversation: the store
    appends the turn's messages to its list when the turn commits, and a result read later
    must not see them twice. ``join`` puts them in front in place, so every holder of this
    list (the run, its steps, the context, the result) sees the whole conversation after.
    Iterating or comparing it joins it first; the run loop reads the two parts without
    joining (``messages``, ``stored_part``).
    """

    __slots__ = ("history", "stored")

    def __init__(self, added: Iterable[Message] = (), history: list[Message] | None = None):
        super().__init__(added)
        self.history = history if history is not None else []
        self.stored = len(self.history)

    def __iter__(self) -> Iterator[Message]:
        self.join()
        return list.__iter__(self)

    def __reduce_ex__(self, protocol: SupportsIndex) -> str | tuple[Any, ...]:
        self.join()  # a copy or a pickle is of the whole conversation, with no history left
        return super().__reduce_ex__(protocol)

    def join(self) -> None:
        if self.stored:
            stored, history = self.stored, self.history
            self[:0] = history if len(history) == stored else history[:stored]
            self.history, self.stored = [], 0

    def __eq__(self, other: object) -> bool:
        self.join()  # compared as the whole conversation, on either side of ``==``
        if type(other) is Transcript:
            other.join()
        return list.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None

    def messages(self) -> Iterator[Message]:
        """Every message of the conversation, history first, without joining."""
        return chain(islice(self.history, self.stored), list.__iter__(self))


def joined(messages: list[Message]) -> list[Message]:
    """``messages`` as the whole conversation: a ``Transcript`` joins its history first."""
    if type(messages) is Transcript and messages.stored:
        messages.join()
    return messages


def stored_part(messages: list[Message]) -> Sequence[Message]:
    """The stored history a ``Transcript`` has not joined yet; empty for any other list."""
    if type(messages) is Transcript and messages.stored:
        stored, history = messages.stored, messages.history
        return history if len(history) == stored else history[:stored]
    return ()


def all_messages(messages: list[Message]) -> Iterable[Message]:
    """Every message of the conversation, a ``Transcript``'s history first, without joining."""
    if type(messages) is Transcript and messages.stored:
        return messages.messages()
    return messages


def added_since(messages: list[Message], stored: int) -> list[Message]:
    """What the conversation gained after its first ``stored`` messages (joined or not)."""
    if type(messages) is Transcript:
        stored -= messages.stored
    return messages[stored:]
