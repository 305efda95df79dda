"""The shape of a YAML team file, as pydantic models (validation and the editor schema).

Loaded by ``webagents.teams.files``; docs/teams.md's reference and docs/team.schema.json are
generated from these models, and a test keeps both in step.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

__all__ = ["UNION_TAGS", "AgentSpec", "SkillSpec", "TeamSpec", "TransferSpec"]

#: Union branch tags pydantic puts in an error's location; a file's reader never sees them.
UNION_TAGS = frozenset({"by-name", "with-options"})


def _form(value: Any) -> str:
    return "with-options" if isinstance(value, dict) else "by-name"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SkillSpec(_Strict):
    """A skill with configuration: ``{name: router, config: {...}}``."""

    name: str = Field(min_length=1, description="The skill's registered name.")
    config: dict[str, Any] | None = Field(
        default=None, description="The skill's configuration, validated by the skill."
    )


class TransferSpec(_Strict):
    """A handoff target with options for this edge: ``{agent: Billing, instructions: ...}``."""

    agent: str = Field(min_length=1, description="The name of an agent of this team.")
    description: str | None = Field(
        default=None,
        description="What the model reads in the transfer tool to decide when to hand off "
        "along this edge; default: the target's own description.",
    )
    instructions: str | None = Field(
        default=None,
        description="Shown to the target when the conversation is handed to it along this "
        "edge, in its handoff context under `instructions`.",
    )
    history: Literal["full", "conversation", "last_user"] | None = Field(
        default=None,
        description="What the target receives of the conversation along this edge; default: "
        "the target's own `handoff_history`.",
    )
    carry_state: bool = Field(
        default=True,
        description="`false` starts the target with fresh context keys: none of what the "
        "source's skills stored in the run's context.",
    )
    scope: Literal["all", "owner", "admin"] = Field(
        default="all",
        description="The lowest caller scope offered this transfer, as for tools.",
    )


SkillItem = Annotated[
    Annotated[str, Tag("by-name")] | Annotated[SkillSpec, Tag("with-options")],
    Discriminator(_form),
]
TransferItem = Annotated[
    Annotated[str, Tag("by-name")] | Annotated[TransferSpec, Tag("with-options")],
    Discriminator(_form),
]


class AgentSpec(_Strict):
    """One agent: local (with a model) or remote (with a `url`)."""

    name: str = Field(min_length=1, description="Unique within the team.")
    description: str = Field(
        default="", description="What other agents (transfer tools), discovery and cards show."
    )
    instructions: str = Field(default="", description="The system prompt of a local agent.")
    model: str | None = Field(
        default=None,
        description="`provider/name`, e.g. `openai/gpt-4o-mini`; default: the team's `model`.",
    )
    skills: list[SkillItem] = Field(
        default_factory=list,
        description="Registered skill names, or `{name, config}`.",
    )
    can_transfer_to: list[TransferItem] = Field(
        default_factory=list,
        description="Agents of this team the model may hand off to: names, or "
        "`{agent, instructions}`.",
    )
    max_handoffs: int = Field(default=5, ge=0, description="Handoffs per run started here.")
    complete_tool: bool | None = Field(
        default=None,
        description="Offer the model a `complete(summary)` tool that ends the task with a "
        "summary; default: the team's `complete_tool`.",
    )
    max_turns: int = Field(default=10, ge=1, description="Model calls per activation.")
    handoff_history: Literal["full", "conversation", "last_user"] = Field(
        default="full", description="What this agent receives of a conversation handed to it."
    )
    url: str | None = Field(
        default=None,
        description="A remote agent's address (`http(s)://host/agents/<name>`); such an agent "
        "has no model, instructions, skills or transfers here.",
    )
    api_key_env: str | None = Field(
        default=None,
        description="The environment variable holding a remote agent's bearer key.",
    )
    timeout: float | None = Field(
        default=None, gt=0, description="A remote agent's deadline per attempt, in seconds."
    )
    protocol: Literal["chat", "a2a"] = Field(
        default="chat",
        description="How a remote agent is spoken to: `chat` (OpenAI chat completions, a "
        "webagents server) or `a2a` (an A2A agent; `url` is its base URL or its card's URL).",
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="Free-form data on the agent's card; `price` (a non-negative amount) is "
        "what the agent charges.",
    )

    @field_validator("metadata")
    @classmethod
    def _price(cls, metadata: dict[str, Any]) -> dict[str, Any]:
        price = metadata.get("price")
        if price is None:
            return metadata
        try:
            amount = None if isinstance(price, bool) else Decimal(str(price))
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite() or amount < 0:
            raise ValueError(f"price must be a non-negative amount (e.g. 0.05), got {price!r}")
        return metadata


class TeamSpec(_Strict):
    """A team file."""

    model_config = ConfigDict(
        extra="forbid",
        title="webagents team",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    name: str = Field(min_length=1, description="The team's name (also its network's).")
    description: str = Field(default="", description="What the team does.")
    start: str | None = Field(
        default=None, description="The agent runs begin with; default: the first agent."
    )
    model: str | None = Field(
        default=None, description="The model of agents that name none, e.g. `openai/gpt-4o`."
    )
    cycles: Literal["forbid", "allow"] = Field(
        default="forbid",
        description="`forbid`: a run never takes the same handoff (A -> B) twice; `allow`: "
        "agents may hand back and forth until `max_handoffs`.",
    )
    complete_tool: bool = Field(
        default=False,
        description="Offer every local agent a `complete(summary)` tool that ends the task "
        "with a summary; a session's next turn then starts at `start` again.",
    )
    agents: list[AgentSpec] = Field(min_length=1, description="The team's agents, in order.")
