"""YAML team files: ``load_team(path)`` reads, validates and builds a ``Team``.

The file's shape is ``webagents.teams.spec.TeamSpec`` (docs/teams.md has the reference).
Every mistake is a ``TeamFileError`` naming the file, the line, the agent and the field,
with the fix: ``team.yaml:12: agent 'FrontDesk', can_transfer_to[1]: unknown agent
'Billng'; did you mean 'Billing'?``.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webagents.agents.agent import BaseAgent
from webagents.agents.network import AgentNetwork, RemoteAgent
from webagents.agents.skills.base import Skill
from webagents.agents.targets import HandoffTarget
from webagents.errors import AgentConfigError
from webagents.teams.team import Team

if TYPE_CHECKING:
    from webagents.agents.sessions import SessionStore
    from webagents.teams.spec import AgentSpec, TeamSpec, TransferSpec

__all__ = ["TeamFileError", "load_team", "team_schema"]

_Path = tuple[str | int, ...]
_EDGE_KINDS = frozenset({"unknown_target", "tool_collision", "unusable_transfer"})


class TeamFileError(AgentConfigError):
    """A team file that cannot be loaded. ``file``, ``line`` (1-based, None when unknown),
    ``agent`` (None for team-level fields) and ``field`` say where; the message says what
    and the fix."""

    def __init__(
        self, file: str, line: int | None, agent: str | None, field: str | None, problem: str
    ) -> None:
        self.file, self.line, self.agent, self.field = file, line, agent, field
        self.problem = problem
        where = f"{file}:{line}" if line is not None else file
        subject = [f"agent {agent!r}"] if agent is not None else []
        subject += [field] if field else []
        super().__init__(f"{where}: {', '.join(subject) + ': ' if subject else ''}{problem}")


def team_schema() -> dict[str, Any]:
    """The JSON schema of team files, for editors (docs/team.schema.json)."""
    from webagents.teams.spec import TeamSpec

    return TeamSpec.model_json_schema()


def load_team(
    path: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    sessions: SessionStore[Any] | None = None,
) -> Team:
    """The team a YAML file describes, in an ``AgentNetwork`` of its own named after the team
    (``sessions`` is its store; default: the library's). ``env`` is where ``api_key_env``
    variables are read (default ``os.environ``)."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TeamFileError(file, None, None, None, "no such file; check the path") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TeamFileError(file, None, None, None, f"cannot be read: {error}") from None
    document = _Document(file, text)
    spec = document.validate()
    return _Builder(document, spec, os.environ if env is None else env, sessions).build()


class _Document:
    """The parsed YAML with the line of every key and value, for error messages."""

    def __init__(self, file: str, text: str) -> None:
        import yaml

        self.file = file
        self.lines: dict[_Path, int] = {}
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            self.data: Any = yaml.safe_load(text)
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = mark.line + 1 if mark is not None else None
            column = f", column {mark.column + 1}" if mark is not None else ""
            problem = f"{error.problem or error.context}"
            if "could not determine a constructor" in str(error):
                problem = f"{problem.split(' for the tag')[0]}: YAML tags are not allowed here"
            raise TeamFileError(
                file, line, None, None, f"invalid YAML{column}: {problem}"
            ) from None
        except yaml.YAMLError as error:
            raise TeamFileError(file, None, None, None, f"invalid YAML: {error}") from None
        if node is not None:
            self._walk(node, ())
        if not isinstance(self.data, dict):
            raise TeamFileError(
                file,
                1,
                None,
                None,
                "a team file is a mapping with `name:` and `agents:`; see docs/teams.md",
            )

    def _walk(self, node: Any, path: _Path) -> None:
        import yaml

        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                if key in seen:
                    raise self.error(
                        path, f"`{key}` is given twice in one mapping; keep one", key_node
                    )
                seen.add(key)
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                self._walk(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, (*path, index))

    def line(self, path: _Path) -> int | None:
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path)

    def error(self, path: _Path, problem: str, node: Any = None) -> TeamFileError:
        """A ``TeamFileError`` at ``path`` (``("agents", 2, "model")``)."""
        agent: str | None = None
        field: _Path = path
        if len(path) >= 2 and path[0] == "agents" and isinstance(path[1], int):
            entry = self._agent_entry(path[1])
            name = entry.get("name") if isinstance(entry, dict) else None
            agent = name if isinstance(name, str) else f"#{path[1] + 1}"
            field = path[2:]
        line = node.start_mark.line + 1 if node is not None else self.line(path)
        return TeamFileError(self.file, line, agent, _field(field), problem)

    def _agent_entry(self, index: int) -> Any:
        agents = self.data.get("agents") if isinstance(self.data, dict) else None
        return agents[index] if isinstance(agents, list) and index < len(agents) else None

    def validate(self) -> TeamSpec:
        from pydantic import ValidationError

        from webagents.teams.spec import UNION_TAGS, TeamSpec

        try:
            return TeamSpec.model_validate(self.data)
        except ValidationError as invalid:
            issues = invalid.errors(include_url=False)
            # A misspelled field also makes the real one missing: the misspelling is the news.
            issue = next((i for i in issues if i["type"] == "extra_forbidden"), issues[0])
            path = tuple(p for p in issue["loc"] if p not in UNION_TAGS)
            raise self.error(path, _problem(issue, path)) from None


def _field(path: _Path) -> str | None:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return text or None


def _problem(issue: Mapping[str, Any], path: _Path) -> str:
    from webagents.teams.spec import AgentSpec, SkillSpec, TeamSpec, TransferSpec

    kind = issue["type"]
    if kind == "missing":
        return "required, but missing"
    if kind == "extra_forbidden" and path:
        owner: type[Any] = TeamSpec
        if "agents" in path[:1]:
            owner = AgentSpec
            if "skills" in path:
                owner = SkillSpec
            elif "can_transfer_to" in path:
                owner = TransferSpec
        keys = list(owner.model_fields)
        close = difflib.get_close_matches(str(path[-1]), keys, n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        return f"unknown field; {hint}fields: {', '.join(keys)}"
    if kind == "list_type":
        value = issue.get("input")
        example = f"[{value}]" if isinstance(value, str) else "[...]"
        return f"should be a list, e.g. `{path[-1]}: {example}`"
    if kind in ("model_type", "dict_type"):
        what = "an agent" if path[-2:-1] == ("agents",) else "this"
        return f"{what} should be a mapping (`key: value` lines), got {issue.get('input')!r}"
    message = str(issue["msg"])
    return message[0].lower() + message[1:] if message else kind


class _Builder:
    def __init__(
        self,
        document: _Document,
        spec: TeamSpec,
        env: Mapping[str, str],
        sessions: SessionStore[Any] | None,
    ) -> None:
        self.document, self.spec, self.env, self.sessions = document, spec, env, sessions

    def build(self) -> Team:
        spec, doc = self.spec, self.document
        names: dict[str, int] = {}
        for index, agent in enumerate(spec.agents):
            if agent.name in names:
                raise doc.error(
                    ("agents", index, "name"),
                    f"agent name {agent.name!r} is taken by agent #{names[agent.name] + 1}; "
                    f"names are unique in a team",
                )
            names[agent.name] = index
        start = spec.start if spec.start is not None else spec.agents[0].name
        if start not in names:
            raise doc.error(("start",), _unknown(start, names, "the first agent is the default"))
        if spec.agents[names[start]].url is not None:
            if spec.start is not None:
                raise doc.error(
                    ("start",), f"{start!r} is a remote agent; a team starts with a local agent"
                )
            raise doc.error(
                ("agents", 0, "url"),
                "the first agent starts the team, and this one is remote; put a local agent "
                "first, or name one with `start:`",
            )
        network = AgentNetwork(spec.name, sessions=self.sessions)
        members: dict[str, BaseAgent | RemoteAgent] = {}
        for index, agent in enumerate(spec.agents):
            if agent.url is not None:
                members[agent.name] = self._remote(network, index, agent)
            else:
                members[agent.name] = self._local(network, index, agent, names)
        start_agent = members[start]
        assert isinstance(start_agent, BaseAgent)
        team = Team(spec.name, network, start_agent, members, source=doc.file)
        self._check_graph(team, names)
        return team

    def _check_graph(self, team: Team, names: Mapping[str, int]) -> None:
        """The handoff graph's errors (``webagents.teams.graph``), pointing at the agent each
        is about. Its warnings are not logged here: ``webagents graph`` shows them."""
        from webagents.teams.graph import TeamGraphError, check_graph

        report = check_graph(team.start, team.agents)
        if report.errors:
            first, *others = report.errors
            field = "can_transfer_to" if first.kind in _EDGE_KINDS else "name"
            path: _Path = ("agents", names[first.agent], field) if first.agent in names else ()
            also = "".join(f"; also: {issue.message}" for issue in others)
            # Chained: `webagents graph` shows the whole report (warnings too) from the cause.
            raise self.document.error(path, first.message + also) from TeamGraphError(
                report, team.name
            )

    def _remote(self, network: AgentNetwork, index: int, agent: AgentSpec) -> RemoteAgent:
        doc = self.document
        local_only = ("instructions", "model", "skills", "can_transfer_to")
        for field in local_only:
            if field in doc.data["agents"][index]:
                raise doc.error(
                    ("agents", index, field),
                    f"a remote agent (with `url:`) has no `{field}` here: it is configured "
                    f"where it is served; remove `{field}`, or remove `url` for a local agent",
                )
        api_key = None
        if agent.api_key_env is not None:
            api_key = self.env.get(agent.api_key_env)
            if not api_key:
                raise doc.error(
                    ("agents", index, "api_key_env"),
                    f"environment variable {agent.api_key_env} is not set; export it with "
                    f"the agent's key, or remove `api_key_env`",
                )
        assert agent.url is not None
        try:
            return network.register_remote(
                agent.name,
                agent.url,
                description=agent.description,
                api_key=api_key,
                timeout=agent.timeout,
                protocol=agent.protocol,
            )
        except AgentConfigError as error:
            raise doc.error(("agents", index, "url"), str(error)) from None

    def _local(
        self, network: AgentNetwork, index: int, agent: AgentSpec, names: Mapping[str, int]
    ) -> BaseAgent:
        doc, at = self.document, ("agents", index)
        for field in ("api_key_env", "timeout"):
            if getattr(agent, field) is not None:
                raise doc.error(
                    (*at, field), f"`{field}` is for remote agents (with `url:`); remove it"
                )
        if "protocol" in doc.data["agents"][index]:
            raise doc.error(
                (*at, "protocol"), "`protocol` is for remote agents (with `url:`); remove it"
            )
        model_name = agent.model or self.spec.model
        if model_name is None:
            raise doc.error(
                (*at, "name"),
                "no model: add `model: openai/gpt-4o-mini` (any provider/name) to this agent, "
                "or a team-level `model:` default for every agent",
            )
        from webagents.models import resolve_model

        try:
            model = resolve_model(model_name)
        except AgentConfigError as error:
            model_at: _Path = (*at, "model") if agent.model else ("model",)
            raise doc.error(model_at, str(error)) from None
        handoffs: list[str | HandoffTarget] = []
        for position, item in enumerate(agent.can_transfer_to):
            target = item if isinstance(item, str) else item.agent
            where = (*at, "can_transfer_to", position)
            if target not in names:
                raise doc.error(where, _unknown(target, names, "add that agent to the team"))
            if target == agent.name:
                raise doc.error(
                    where, f"{target!r} is this agent; an agent cannot hand off to itself"
                )
            if target in (t if isinstance(t, str) else t.name for t in handoffs):
                raise doc.error(where, f"{target!r} is listed twice; keep one")
            handoffs.append(item if isinstance(item, str) else _edge(item))
        skills: dict[str, Skill] = {}
        for position, skill_item in enumerate(agent.skills):
            skill_name = skill_item if isinstance(skill_item, str) else skill_item.name
            config = None if isinstance(skill_item, str) else skill_item.config
            where = (*at, "skills", position)
            if skill_name in skills:
                raise doc.error(where, f"skill {skill_name!r} is listed twice; keep one")
            skills[skill_name] = _skill(doc, where, skill_name, config)
        complete_tool = agent.complete_tool
        try:
            return BaseAgent(
                agent.name,
                agent.instructions,
                model=model,
                description=agent.description,
                skills=skills,
                handoffs=handoffs,
                max_handoffs=agent.max_handoffs,
                max_turns=agent.max_turns,
                handoff_history=agent.handoff_history,
                handoff_cycles=self.spec.cycles,
                complete_tool=self.spec.complete_tool if complete_tool is None else complete_tool,
                metadata=agent.metadata,
                network=network,
            )
        except AgentConfigError as error:
            raise doc.error((*at, "name"), str(error)) from None


def _edge(item: TransferSpec) -> HandoffTarget:
    return HandoffTarget(
        item.agent,
        description=item.description,
        instructions=item.instructions,
        history=item.history,
        carry_state=item.carry_state,
        scope=item.scope,
    )


def _skill(doc: _Document, where: _Path, name: str, config: Mapping[str, Any] | None) -> Skill:
    from webagents.plugins.manager import plugin_registry

    registry = plugin_registry()
    try:
        skill_class = registry.get_skill(name)
    except AgentConfigError:
        known = sorted(registry.skills)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = ("did you mean " + " or ".join(repr(c) for c in close) + "? ") if close else ""
        failed = f" ({len(registry.errors)} plugins failed to load: run `webagents plugins`)"
        raise doc.error(
            where,
            f"unknown skill {name!r}; {hint}registered skills: {', '.join(known) or 'none'}; "
            f"install the plugin that provides it" + (failed if registry.errors else ""),
        ) from None
    field = (*where, "config") if config is not None else where
    try:
        skill: Skill = skill_class(dict(config)) if config is not None else skill_class()
    except AgentConfigError as error:
        raise doc.error(field, str(error)) from None
    except TypeError as error:
        raise doc.error(field, f"skill {name!r} cannot be built from this file: {error}") from None
    return skill


def _unknown(name: str, names: Iterable[str], otherwise: str) -> str:
    close = difflib.get_close_matches(name, list(names), n=3, cutoff=0.6)
    hint = ("did you mean " + " or ".join(repr(c) for c in close) + "?") if close else otherwise
    return f"unknown agent {name!r}; {hint}"
