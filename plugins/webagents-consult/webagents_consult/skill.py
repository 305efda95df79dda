"""``ConsultSkill``: ask expert agents by topic, one or several at once, through ``NLISkill``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Final, Literal, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    ValidationInfo,
    field_validator,
)

from webagents import Skill, prompt, tool
from webagents.agents.skills.nli import NLISkill

__all__ = ["ConsultConfig", "ConsultSkill", "Consultation", "Status"]

DEFAULT_TIMEOUT: Final = 30.0

Status: TypeAlias = Literal["answered", "no_expert", "unavailable"]


@dataclass(frozen=True, slots=True)
class Consultation:
    """The outcome of consulting the expert for one topic.

    ``status``: ``answered`` (``answer`` holds the reply), ``no_expert`` (the topic is not in
    the map) or ``unavailable`` (the mapped expert, and its fallbacks, failed: see ``error``).
    """

    topic: str
    status: Status
    expert: str | None = None
    answered_by: str | None = None
    answer: str | None = None
    error: str | None = None

    def text(self) -> str:
        """What ``consult_expert`` tells the model."""
        if self.status == "answered":
            return self.answer or ""
        return self.error or ""

    def to_dict(self) -> dict[str, Any]:
        """What ``consult_experts`` tells the model for this topic."""
        data: dict[str, Any] = {"status": self.status, "expert": self.expert}
        if self.status == "answered":
            data["answer"] = self.answer
            if self.answered_by != self.expert:
                data["answered_by"] = self.answered_by
        else:
            data["error"] = self.error
        return data


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must be a non-empty string")
    return value


NonBlank = Annotated[str, AfterValidator(_non_blank)]


class ConsultConfig(BaseModel):
    """``ConsultSkill``'s config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Topic -> expert agent name; topics match case-insensitively.
    experts: dict[NonBlank, NonBlank] = Field(default_factory=dict)
    #: Seconds per expert.
    timeout: Annotated[StrictFloat, Field(gt=0)] = DEFAULT_TIMEOUT
    #: Expert agent name -> backup agents, tried in order when the expert fails.
    fallbacks: dict[str, list[NonBlank]] = Field(default_factory=dict)
    #: Bearer token for remote experts.
    api_key: str | None = None

    @field_validator("experts")
    @classmethod
    def _distinct_topics(cls, experts: dict[str, str]) -> dict[str, str]:
        spelled: dict[str, str] = {}
        for topic in experts:
            earlier = spelled.setdefault(_normalise(topic), topic)
            if earlier != topic:
                raise ValueError(
                    f"topics {earlier!r} and {topic!r} are the same topic (topics are matched "
                    f"case-insensitively); keep one"
                )
        return experts

    @field_validator("fallbacks")
    @classmethod
    def _keyed_by_expert(
        cls, fallbacks: dict[str, list[str]], info: ValidationInfo
    ) -> dict[str, list[str]]:
        experts: dict[str, str] = info.data.get("experts", {})
        names = set(experts.values())
        by_topic = {_normalise(topic): agent for topic, agent in experts.items()}
        for expert in fallbacks:
            if expert in names:
                continue
            topic_expert = by_topic.get(_normalise(expert))
            hint = (
                f"fallbacks are keyed by expert agent name: write {topic_expert!r}"
                if topic_expert is not None
                else f"experts: {', '.join(sorted(names)) or 'none configured'}"
            )
            raise ValueError(f"{expert!r} is no expert; {hint}")
        return fallbacks


class ConsultSkill(Skill):
    """Consult expert agents (local or remote) by topic.

    Config: ``experts`` (``{"finance": "finance-expert", ...}``, topics matched
    case-insensitively), ``timeout`` (seconds per expert, default 30), ``fallbacks``
    (``{"finance-expert": ["backup-expert"]}``, tried in order when an expert fails) and
    ``api_key`` (bearer token for remote experts).
    """

    config_model: ClassVar[type[ConsultConfig]] = ConsultConfig

    def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)  # validates config against ConsultConfig
        settings: ConsultConfig = self.settings
        self.experts: dict[str, str] = {_normalise(t): a for t, a in settings.experts.items()}
        self.timeout: float = settings.timeout
        fallbacks = {expert: list(backups) for expert, backups in settings.fallbacks.items()}
        nli_config: dict[str, Any] = {"timeout": self.timeout, "fallbacks": fallbacks}
        if settings.api_key is not None:
            nli_config["api_key"] = settings.api_key
        self.nli = NLISkill(nli_config)

    @property
    def topics(self) -> list[str]:
        """The topics experts are configured for, sorted."""
        return sorted(self.experts)

    def expert_for(self, topic: str) -> str | None:
        """The expert agent for ``topic`` (case-insensitive), or None."""
        return self.experts.get(_normalise(topic))

    async def consult(self, topic: str, question: str) -> Consultation:
        """Ask the expert for ``topic``; never raises for a missing or failing expert."""
        expert = self.expert_for(topic)
        if expert is None:
            return Consultation(topic, "no_expert", error=self._no_expert(topic))
        return await self._ask(topic, expert, question)

    async def _ask(self, topic: str, expert: str, question: str) -> Consultation:
        outcome = await self.nli.query_agent(expert, question)
        if outcome["success"]:
            answer = str(outcome["response"] or "")
            return Consultation(topic, "answered", expert, str(outcome["agent"]), answer)
        error = f"Expert unavailable: {expert} could not answer: {outcome['error']}"
        return Consultation(topic, "unavailable", expert, error=error)

    def _no_expert(self, topic: str) -> str:
        if not self.experts:
            return f"No expert for topic {topic!r}: no experts are configured."
        return f"No expert for topic {topic!r}. Topics available: {', '.join(self.topics)}."

    @prompt
    def expert_topics(self) -> str:
        """Tell the model which topics it can consult experts on."""
        if not self.experts:
            return ""
        return (
            "You can consult expert agents with the consult_expert tool (consult_experts for "
            f"several topics at once). Topics: {', '.join(self.topics)}."
        )

    @tool
    async def consult_expert(self, topic: str, question: str) -> str:
        """Ask the expert agent for a topic a question and return its answer.

        Args:
            topic: The subject area, e.g. "finance" or "legal".
            question: The full question for the expert, with the details it needs.
        """
        _check_question(question)
        return (await self.consult(topic, question)).text()

    @tool
    async def consult_experts(self, topics: list[str], question: str) -> dict[str, Any]:
        """Ask the experts for several topics the same question at once.

        Args:
            topics: The subject areas, e.g. ["finance", "legal"].
            question: The full question for the experts, with the details they need.

        Returns one entry per topic: status "answered" with the answer, "no_expert" or
        "unavailable" with the error.
        """
        _check_question(question)
        results = await self.consult_many(topics, question)
        return {topic: consultation.to_dict() for topic, consultation in results.items()}

    async def consult_many(self, topics: list[str], question: str) -> dict[str, Consultation]:
        """Consult the experts for ``topics`` concurrently (each expert once), by topic."""
        wanted: dict[str, str] = {}  # normalised topic -> the topic as given (first spelling)
        for topic in topics:
            wanted.setdefault(_normalise(topic), topic)
        first_topic: dict[str, str] = {}  # expert -> the first requested topic it answers
        for key, topic in wanted.items():
            expert = self.experts.get(key)
            if expert is not None:
                first_topic.setdefault(expert, topic)
        answers = await asyncio.gather(
            *(self._ask(topic, expert, question) for expert, topic in first_topic.items())
        )
        by_expert = dict(zip(first_topic, answers, strict=True))
        results: dict[str, Consultation] = {}
        for key, topic in wanted.items():
            expert = self.experts.get(key)
            if expert is None:
                results[topic] = Consultation(topic, "no_expert", error=self._no_expert(topic))
            else:
                shared = by_expert[expert]
                results[topic] = Consultation(
                    topic, shared.status, expert, shared.answered_by, shared.answer, shared.error
                )
        return results


def _normalise(topic: str) -> str:
    return " ".join(topic.split()).casefold()


def _check_question(question: str) -> None:
    if not question.strip():
        raise ValueError("the question is empty; write the full question for the expert")
