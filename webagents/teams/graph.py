"""The handoff graph of a team: checked when the team is built, drawn as Mermaid or Graphviz.

An edge ``a -> b`` exists when ``a`` lists ``b`` in ``handoffs=[...]`` (its model may call
``transfer_to_b``) or has a ``@handoff("b")`` condition. An agent *can answer* when it is a
``BaseAgent`` with a model, or a ``RemoteAgent`` (its own server answers). An agent without a
model only hands off through its conditions: its transfer tools are never called, so they are
no edges of the graph the checks walk. A dynamic condition (``@handoff()``, returning a name
at run time) may go anywhere, so the checks treat its agent as reaching every agent.

``check_graph`` returns errors (what cannot work) and warnings (what is suspicious);
``validate_team`` is the check a team runs when it is built: it logs the warnings on the
``webagents`` logger and raises ``TeamGraphError`` listing every error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, TypeAlias

from webagents._names import transfer_tool_name
from webagents.agents.agent import BaseAgent
from webagents.agents.network import RemoteAgent
from webagents.agents.skills.decorators import SCOPES
from webagents.errors import UnknownAgentError, WebAgentsError

__all__ = [
    "GraphIssue",
    "GraphReport",
    "GraphvizNotFoundError",
    "IssueKind",
    "TeamGraphError",
    "check_graph",
    "render",
    "to_dot",
    "to_mermaid",
    "validate_team",
]

logger = logging.getLogger("webagents")

Member: TypeAlias = BaseAgent | RemoteAgent
IssueKind: TypeAlias = Literal[
    # errors
    "missing_start",
    "unknown_target",
    "tool_collision",
    "no_answer",
    "unusable_transfer",
    # warnings
    "unreachable",
    "no_model",
    "cycle",
    "remote_dead_end",
]
Trigger: TypeAlias = Literal["transfer", "condition"]


@dataclass(frozen=True, slots=True)
class GraphIssue:
    """One finding: its ``kind``, the ``agent`` it is about, and a message naming the fix."""

    kind: IssueKind
    agent: str
    message: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.message}"


@dataclass(frozen=True, slots=True)
class GraphReport:
    """What ``check_graph`` found in the graph of ``start`` and ``agents``."""

    start: BaseAgent
    agents: Mapping[str, Member] = field(repr=False)
    errors: tuple[GraphIssue, ...] = ()
    warnings: tuple[GraphIssue, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self, team: str | None = None) -> None:
        """Raise ``TeamGraphError`` listing every error (warnings do not raise)."""
        if self.errors:
            raise TeamGraphError(self, team)

    def to_mermaid(self) -> str:
        return to_mermaid(self.start, self.agents)


class TeamGraphError(WebAgentsError, ValueError):
    """A team's handoff graph cannot work; ``report`` holds every error and warning."""

    def __init__(self, report: GraphReport, team: str | None = None) -> None:
        self.report = report
        self.team = team
        count = len(report.errors)
        where = f"team {team!r}" if team else f"the team of {report.start.name!r}"
        lines = [f"{where}: the handoff graph has {count} error{'s' * (count != 1)}:"]
        lines += [f"  - {issue}" for issue in report.errors]
        super().__init__("\n".join(lines))


class GraphvizNotFoundError(WebAgentsError, RuntimeError):
    """Rendering PNG or SVG needs Graphviz's ``dot`` program, which is not installed."""


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    triggers: tuple[Trigger, ...]  # "transfer" and/or "condition", in that order


# --- reading the graph -------------------------------------------------------------------


def _target_name(target: Member | str) -> str:
    return target if isinstance(target, str) else target.name


def edges(agents: Mapping[str, Member]) -> list[Edge]:
    """Every declared handoff, one edge per (source, target), in team order."""
    found: dict[tuple[str, str], list[Trigger]] = {}
    for name, agent in agents.items():
        if not isinstance(agent, BaseAgent):
            continue
        for target in agent.handoff_targets:
            found.setdefault((name, _target_name(target)), []).append("transfer")
        for condition in agent.capabilities.conditions:
            if condition.target is not None:
                triggers = found.setdefault((name, condition.target), [])
                if "condition" not in triggers:
                    triggers.append("condition")
    return [Edge(source, target, tuple(triggers)) for (source, target), triggers in found.items()]


def _can_answer(agent: Member) -> bool:
    return isinstance(agent, RemoteAgent) or agent.model is not None


def _routes_dynamically(agent: Member) -> bool:
    return isinstance(agent, BaseAgent) and any(
        condition.target is None for condition in agent.capabilities.conditions
    )


def _successors(agents: Mapping[str, Member], graph: list[Edge]) -> dict[str, list[str]]:
    """The edges a run can take: to agents of the team, and a model-less agent's conditions."""
    out: dict[str, list[str]] = {name: [] for name in agents}
    for edge in graph:
        source = agents[edge.source]
        usable = "condition" in edge.triggers or _can_answer(source)
        if usable and edge.target in agents and edge.target not in out[edge.source]:
            out[edge.source].append(edge.target)
    for name, agent in agents.items():
        if _routes_dynamically(agent):
            out[name] = [other for other in agents if other != name]
    return out


def _reach(out: Mapping[str, list[str]], start: str) -> list[str]:
    seen, queue = [start], [start]
    while queue:
        for target in out[queue.pop(0)]:
            if target not in seen:
                seen.append(target)
                queue.append(target)
    return seen


def _components(out: Mapping[str, list[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan), members in team order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in out[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            members = []
            while True:
                member = stack.pop()
                members.append(member)
                if member == node:
                    break
            found.append(members)

    for node in out:
        if node not in index:
            visit(node)
    order = list(out)
    return [sorted(members, key=order.index) for members in found]


def _cycle_path(out: Mapping[str, list[str]], members: list[str]) -> list[str]:
    """A cycle through the first member, within the component: ``[a, b, a]``."""
    first, inside = members[0], set(members)
    paths: dict[str, list[str]] = {first: [first]}
    queue = [first]
    while queue:
        node = queue.pop(0)
        for target in out[node]:
            if target == first:
                return [*paths[node], first]
            if target in inside and target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    return [first, first]


def _is_cycle(out: Mapping[str, list[str]], members: list[str]) -> bool:
    return len(members) > 1 or members[0] in out[members[0]]


# --- the checks --------------------------------------------------------------------------


def check_graph(start: BaseAgent, agents: Mapping[str, Member]) -> GraphReport:
    """Check the handoff graph of a team whose runs start at ``start``."""
    errors: list[GraphIssue] = []
    warnings: list[GraphIssue] = []
    if agents.get(start.name) is not start:
        errors.append(
            GraphIssue(
                "missing_start",
                start.name,
                f"the start agent {start.name!r} is not an agent of the team; add it to the "
                f"team's agents",
            )
        )
        return GraphReport(start, agents, tuple(errors))
    graph = edges(agents)
    for name, agent in agents.items():
        if isinstance(agent, BaseAgent):
            errors += _target_issues(name, agent, agents)
            errors += _collisions(name, agent)
            errors += _unoffered(name, agent)
    errors += _budget(start, graph)
    out = _successors(agents, graph)
    reached = _reach(out, start.name)
    errors += _no_answer(agents, out, reached)

    warnings += [
        GraphIssue(
            "unreachable",
            name,
            f"agent {name!r} cannot be reached from the start {start.name!r}: no agent that "
            f"gets the conversation hands off to it; add it to an agent's handoffs "
            f"(can_transfer_to), or remove it from the team",
        )
        for name in agents
        if name not in reached
    ]
    for name, agent in agents.items():
        if isinstance(agent, BaseAgent) and agent.model is None and agent.handoff_targets:
            targets = ", ".join(repr(t) for t in agent.target_names())
            warnings.append(
                GraphIssue(
                    "no_model",
                    name,
                    f"agent {name!r} lists transfer targets ({targets}) but has no model: only "
                    f"its @handoff conditions can hand off; give it a model, or route with "
                    f"conditions alone and drop the targets",
                )
            )
    for members in _components(out):
        if _is_cycle(out, members) and not any(_routes_dynamically(agents[m]) for m in members):
            path = " -> ".join(_cycle_path(out, members))
            warnings.append(
                GraphIssue(
                    "cycle",
                    members[0],
                    f"agents {', '.join(repr(m) for m in members)} hand off in a cycle "
                    f"({path}): allowed, since a run never takes the same handoff twice, but "
                    f"make sure it is meant (a specialist handing back to triage)",
                )
            )
    targeted = {edge.target for edge in graph}
    warnings += [
        GraphIssue(
            "remote_dead_end",
            name,
            f"remote agent {name!r} is a dead end: it cannot hand the conversation back, so it "
            f"keeps the session until it fails (then {start.name!r} answers again); fine for a "
            f"final expert, otherwise consult it as a tool (NLISkill) instead of handing off",
        )
        for name, agent in agents.items()
        if isinstance(agent, RemoteAgent) and name in targeted
    ]
    return GraphReport(start, agents, tuple(errors), tuple(warnings))


def _target_issues(name: str, agent: BaseAgent, agents: Mapping[str, Member]) -> list[GraphIssue]:
    issues = []
    declared: list[tuple[Member | str, str]] = [(t, "handoffs") for t in agent.handoff_targets]
    declared += [
        (condition.target, f"condition {condition.where}")
        for condition in agent.capabilities.conditions
        if condition.target is not None
    ]
    for target, how in declared:
        target_name = _target_name(target)
        member = agents.get(target_name)
        if member is not None and (isinstance(target, str) or _same(member, target)):
            continue
        if member is None:
            close = UnknownAgentError(target_name, agents).suggestions
            guess = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
            fix = f"{guess}fix the name, or add the agent to the team"
            message = (
                f"agent {name!r} hands off to {target_name!r} ({how}), not an agent of the team"
            )
        else:
            fix = f"hand off to the team's {target_name!r} (or its name) instead"
            message = (
                f"agent {name!r} hands off to an agent object named {target_name!r} ({how}) "
                f"that is not the team's {target_name!r}"
            )
        issues.append(GraphIssue("unknown_target", name, f"{message}; {fix}"))
    return issues


def _same(member: Member, target: Member) -> bool:
    return member is target or (isinstance(member, RemoteAgent) and member == target)


def _collisions(name: str, agent: BaseAgent) -> list[GraphIssue]:
    """Targets assigned after construction skip the agent's own check: check again."""
    issues = []
    taken: dict[str, str] = {}
    for target_name in agent.target_names():
        tool = transfer_tool_name(target_name)
        own = agent.capabilities.tools.get(tool)
        if tool in taken and taken[tool] != target_name:
            clash = f"handoff target {taken[tool]!r} gives the same tool; rename one of the agents"
        elif own is not None:
            clash = f"the tool {own.where} has that name; rename it with @tool(name=...)"
        else:
            taken[tool] = target_name
            continue
        issues.append(
            GraphIssue(
                "tool_collision",
                name,
                f"agent {name!r}: handoff target {target_name!r} gives the tool {tool!r}, "
                f"but {clash}",
            )
        )
    return issues


def _unoffered(name: str, agent: BaseAgent) -> list[GraphIssue]:
    """A transfer tool the run offers to no caller scope can never be called."""
    offered = {
        tool["function"]["name"] for scope in SCOPES for tool in agent.tools_with_transfers(scope)
    }
    return [
        GraphIssue(
            "unusable_transfer",
            name,
            f"agent {name!r}: the tool {transfer_tool_name(target)!r} is offered to no scope "
            f"({', '.join(SCOPES)}), so its model can never hand off to {target!r}; let a "
            f"scope use it, or drop the target",
        )
        for target in agent.target_names()
        if transfer_tool_name(target) not in offered
    ]


def _budget(start: BaseAgent, graph: list[Edge]) -> list[GraphIssue]:
    """Runs start at ``start`` and spend its ``max_handoffs``: zero means no transfer tool
    is ever offered, and every condition's handoff fails."""
    if start.max_handoffs > 0 or not graph:
        return []
    sources = ", ".join(dict.fromkeys(repr(edge.source) for edge in graph))
    return [
        GraphIssue(
            "unusable_transfer",
            start.name,
            f"the start agent {start.name!r} has max_handoffs=0, so no run may hand off and "
            f"the handoffs of {sources} are never offered; raise max_handoffs or drop the "
            f"handoffs",
        )
    ]


def _no_answer(
    agents: Mapping[str, Member], out: Mapping[str, list[str]], reached: list[str]
) -> list[GraphIssue]:
    """Agents a run can reach from which no agent that can answer is reachable."""
    answering = {name for name in agents if _can_answer(agents[name])}
    stuck = [name for name in reached if not answering.intersection(_reach(out, name))]
    issues = []
    for members in _components({name: out[name] for name in stuck}):
        if _is_cycle(out, members):
            path = " -> ".join(_cycle_path(out, members))
            issues.append(
                GraphIssue(
                    "no_answer",
                    members[0],
                    f"agents {', '.join(repr(m) for m in members)} hand off in a cycle "
                    f"({path}) and none of them, nor any agent they hand off to, can answer "
                    f"(none has a model); give one of them a model",
                )
            )
        else:
            issues += [
                GraphIssue(
                    "no_answer",
                    member,
                    f"agent {member!r} has no model and hands off to no agent that can "
                    f"answer, so a run that reaches it fails; give it a model",
                )
                for member in members
            ]
    return issues


# --- validating a team -------------------------------------------------------------------


class _TeamLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def start(self) -> BaseAgent: ...

    @property
    def agents(self) -> Mapping[str, Member]: ...


def validate_team(team: _TeamLike) -> GraphReport:
    """The check a team runs when it is built: warnings are logged on the ``webagents``
    logger, errors raise ``TeamGraphError`` listing them all."""
    report = check_graph(team.start, team.agents)
    for issue in report.warnings:
        # A cycle is how most handoff teams are meant to work (a specialist hands back to
        # triage): worth showing in `webagents graph`, not a warning at every build.
        level = logging.INFO if issue.kind == "cycle" else logging.WARNING
        logger.log(level, "team %r: %s", team.name, issue)
    report.raise_for_errors(team.name)
    return report


# --- drawing (webagents.teams.graph_drawing) ---------------------------------------------


def to_mermaid(start: BaseAgent, agents: Mapping[str, Member]) -> str:
    """A Mermaid flowchart: the start agent a rounded box, remote agents hexagons (dashed),
    targets outside the team in red; solid arrows for transfer tools, dotted for conditions."""
    from webagents.teams import graph_drawing

    return graph_drawing.to_mermaid(start, agents)


def to_dot(start: BaseAgent, agents: Mapping[str, Member]) -> str:
    """The same graph in Graphviz's DOT language."""
    from webagents.teams import graph_drawing

    return graph_drawing.to_dot(start, agents)


def render(start: BaseAgent, agents: Mapping[str, Member], path: str | Path) -> Path:
    """Write the graph to ``path``: ``.png`` or ``.svg`` through Graphviz's ``dot`` program
    (``GraphvizNotFoundError`` without it), ``.mmd`` (Mermaid) or ``.dot`` as text."""
    from webagents.teams import graph_drawing

    return graph_drawing.render(start, agents, path)
