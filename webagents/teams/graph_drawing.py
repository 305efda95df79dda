"""Drawing a team's handoff graph: Mermaid text, Graphviz DOT, and PNG/SVG through ``dot``.

The public names are ``webagents.teams.graph``'s ``to_mermaid``, ``to_dot`` and ``render``;
this module holds their bodies so the checks stay one module of their own.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

from webagents.agents.agent import BaseAgent
from webagents.agents.network import RemoteAgent
from webagents.teams.graph import Edge, GraphvizNotFoundError, Member, edges

__all__ = ["render", "to_dot", "to_mermaid"]


def _nodes(start: BaseAgent, agents: Mapping[str, Member]) -> Iterator[tuple[str, str]]:
    """(name, role) of every node: the team's agents, then targets outside the team."""
    for name, agent in agents.items():
        yield name, "start" if name == start.name else _role(agent)
    seen = set(agents)
    for edge in edges(agents):
        if edge.target not in seen:
            seen.add(edge.target)
            yield edge.target, "unknown"


def _role(agent: Member) -> str:
    return "remote" if isinstance(agent, RemoteAgent) else "agent"


def _label(edge: Edge) -> str:
    return " + ".join(edge.triggers)


def to_mermaid(start: BaseAgent, agents: Mapping[str, Member]) -> str:
    """A Mermaid flowchart: the start agent a rounded box, remote agents hexagons (dashed),
    targets outside the team in red; solid arrows for transfer tools, dotted for conditions."""
    ids: dict[str, str] = {}
    lines = ["flowchart LR"]
    shapes = {
        "start": '(["{}"]):::start',
        "agent": '["{}"]',
        "remote": '{{{{"{}"}}}}:::remote',
        "unknown": '["{}"]:::unknown',
    }
    for name, role in _nodes(start, agents):
        ids[name] = f"n{len(ids)}"
        label = name.replace('"', "#quot;") + (" (start)" if role == "start" else "")
        lines.append(f"    {ids[name]}{shapes[role].format(label)}")
    for edge in edges(agents):
        arrow = "-->" if "transfer" in edge.triggers else "-.->"
        lines.append(f"    {ids[edge.source]} {arrow}|{_label(edge)}| {ids[edge.target]}")
    lines += [
        "    classDef start fill:#dbeafe,stroke:#1d4ed8,stroke-width:2px",
        "    classDef remote fill:#f3f4f6,stroke:#6b7280,stroke-dasharray:5 5",
        "    classDef unknown fill:#fee2e2,stroke:#b91c1c,stroke-dasharray:3 3",
    ]
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(start: BaseAgent, agents: Mapping[str, Member]) -> str:
    """The same graph in Graphviz's DOT language."""
    styles = {
        "start": 'style="rounded,filled,bold", fillcolor="#dbeafe", peripheries=2',
        "agent": 'style="rounded"',
        "remote": 'shape=hexagon, style="dashed,filled", fillcolor="#f3f4f6"',
        "unknown": 'style="dashed,filled", fillcolor="#fee2e2", color="#b91c1c"',
    }
    lines = [
        "digraph team {",
        "    rankdir=LR;",
        '    node [shape=box, fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
    ]
    for name, role in _nodes(start, agents):
        label = name + (" (start)" if role == "start" else "")
        lines.append(f"    {_quoted(name)} [label={_quoted(label)}, {styles[role]}];")
    for edge in edges(agents):
        style = "" if "transfer" in edge.triggers else ", style=dashed"
        lines.append(
            f"    {_quoted(edge.source)} -> {_quoted(edge.target)} "
            f"[label={_quoted(_label(edge))}{style}];"
        )
    return "\n".join(lines) + "\n}\n"


_FORMATS = (".png", ".svg", ".mmd", ".dot")


def render(start: BaseAgent, agents: Mapping[str, Member], path: str | Path) -> Path:
    """Write the graph to ``path``: ``.png`` or ``.svg`` through Graphviz's ``dot`` program,
    ``.mmd`` (Mermaid) or ``.dot`` as text. Returns the path written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise ValueError(
            f"cannot draw the graph as {path.name!r}: give a file ending in {', '.join(_FORMATS)}"
        )
    if suffix == ".mmd":
        path.write_text(to_mermaid(start, agents))
        return path
    if suffix == ".dot":
        path.write_text(to_dot(start, agents))
        return path
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizNotFoundError(
            f"drawing {path.name!r} needs Graphviz's dot program, which is not on PATH: "
            f"install it (apt-get install graphviz, or brew install graphviz), or write "
            f"Mermaid instead (a .mmd file)"
        )
    completed = subprocess.run(
        [dot, f"-T{suffix[1:]}", "-o", str(path)],
        input=to_dot(start, agents),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"Graphviz's dot could not draw {path.name!r} (exit {completed.returncode}): "
            f"{completed.stderr.strip()}"
        )
    return path
