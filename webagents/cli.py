"""The ``webagents`` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from webagents import __version__

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="webagents")
def main() -> None:
    """Networks of AI agents that hand a conversation to one another."""


@main.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List plugins (built-in and installed): what each registers, and those that failed to load.

    Exits with status 1 when a plugin failed to load (the errors go to stderr).
    """
    from webagents.plugins.manager import plugin_registry

    registry = plugin_registry()
    registry.load()
    infos = [*registry.builtins.values(), *registry.plugins.values()]
    plugins = [info.to_dict() for info in infos]
    errors = [
        {
            "entry_point": error.entry_point,
            "distribution": error.distribution,
            "version": error.version,
            "error": str(error),
        }
        for error in registry.errors
    ]
    if as_json:
        click.echo(json.dumps({"plugins": plugins, "errors": errors}, indent=2))
    else:
        _print_table(plugins)
        if not registry.plugins and not errors:
            click.echo("No plugins installed. Write one with: webagents new-skill NAME")
    if errors:
        click.secho(f"{len(errors)} plugin(s) failed to load:", fg="red", err=True)
        for error in errors:
            click.secho(f"  {error['error']}", fg="red", err=True)
        raise click.exceptions.Exit(1)


def _print_table(plugins: list[dict[str, Any]]) -> None:
    rows = [("PLUGIN", "DISTRIBUTION", "VERSION", "SKILLS", "HOOKS")]
    for plugin in plugins:
        rows.append(
            (
                plugin["name"] + (" (built-in)" if plugin["builtin"] else ""),
                plugin["distribution"],
                plugin["version"],
                ", ".join(plugin["skills"] + plugin["models"] + plugin["tools"]) or "-",
                ", ".join(plugin["hooks"]) or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


@main.command("serve")
@click.argument("target")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1), help="Server processes."
)
@click.option(
    "--api-key",
    "api_keys",
    multiple=True,
    metavar="KEY[=USER]",
    help="A bearer key callers must send (repeatable); =USER names the user it runs as. "
    "Default: WEBAGENTS_API_KEYS.",
)
@click.option(
    "--sessions",
    metavar="SPEC",
    help="Session store: sqlite:///path.db, redis://host:6379/0 or memory. "
    "Default: WEBAGENTS_SESSIONS, else sessions.db under WEBAGENTS_HOME.",
)
def serve_command(
    target: str,
    host: str,
    port: int,
    workers: int,
    api_keys: tuple[str, ...],
    sessions: str | None,
) -> None:
    """Serve agents over the OpenAI Chat Completions API at /agents/<name>.

    TARGET is module:attribute (an agent, a list or mapping of agents, an AgentNetwork, or
    a function returning one) or a Python file, path/to/agents.py[:attribute]; a file alone
    serves its AgentNetwork named `network`, else every agent it defines at top level.
    Needs the server extra: pip install 'webagents-net[server]'.
    """
    try:
        from webagents.server.serve import serve
    except ImportError as error:
        raise click.UsageError(
            f"webagents serve needs the server extra ({error.name} is missing): "
            f"pip install 'webagents-net[server]'"
        ) from None
    serve(target, host=host, port=port, workers=workers, api_keys=api_keys, sessions=sessions)


_AGENT_OPTION = click.option(
    "--agent", metavar="NAME", help="The entry agent (default: the team's start, else the first)."
)
_USER_OPTION = click.option("--user", "user_id", metavar="ID", help="The user the run is for.")
_DEBUG_OPTION = click.option(
    "--debug", is_flag=True, help="One line per handoff and tool call (stderr); tracebacks."
)


@main.command("run")
@click.argument("target")
@click.option("-m", "--message", required=True, help="The user's message.")
@click.option("--session", "session_id", metavar="ID", help="Continue (or start) this session.")
@click.option("--json", "as_json", is_flag=True, help="Print the run result as JSON.")
@_DEBUG_OPTION
@_AGENT_OPTION
@_USER_OPTION
def run_command(
    target: str,
    message: str,
    session_id: str | None,
    as_json: bool,
    debug: bool,
    agent: str | None,
    user_id: str | None,
) -> None:
    """Run one message through TARGET and print the answer.

    TARGET is a team file (team.yaml) or what `webagents serve` takes (module:attribute or a
    Python file). Exit status: 0 answered, 1 the run failed, 2 bad TARGET or options.
    """
    from webagents.cli_run import run_command as run

    run(
        target,
        message,
        agent=agent,
        session_id=session_id,
        user_id=user_id,
        debug=debug,
        as_json=as_json,
    )


@main.command("chat")
@click.argument("target")
@click.option("--session", "session_id", metavar="ID", help="Continue this session.")
@_DEBUG_OPTION
@_AGENT_OPTION
@_USER_OPTION
def chat_command(
    target: str, session_id: str | None, debug: bool, agent: str | None, user_id: str | None
) -> None:
    """Chat with TARGET in the terminal; the agent a handoff reached keeps the conversation.

    Commands: /agent, /history, /reset, /help, /quit. TARGET as for `webagents run`.
    """
    from webagents.cli_run import load_entry
    from webagents.repl import start_chat

    loaded = load_entry(target, agent, debug=debug)
    start_chat(loaded, session_id=session_id, user_id=user_id, debug=debug)


@main.command("demo")
@click.option(
    "--offline", is_flag=True, help="Use the stand-in LLM even when OPENAI_API_KEY is set."
)
@click.option("--chat", is_flag=True, help="Chat with the team instead of the scripted run.")
@click.option(
    "--user",
    "user_id",
    default="u-100",
    show_default=True,
    type=click.Choice(["u-100", "u-200", "u-300"]),
    help="With --chat: the customer (Ada, Grace, Linus whose account is on hold).",
)
def demo_command(offline: bool, chat: bool, user_id: str) -> None:
    """The customer-service team: a front desk handing customers to billing, technical
    support and sales. Offline on a stand-in LLM unless OPENAI_API_KEY is set."""
    if chat:
        from webagents.demo import chat as demo_chat

        demo_chat(user_id=user_id, offline=offline)
        return
    from webagents.demo import main as demo

    demo(offline=offline)


@main.command("new-skill")
@click.argument("name")
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("plugins"),
    show_default=True,
    help="Where to create webagents-NAME/.",
)
def new_skill_command(name: str, directory: Path) -> None:
    """Create a pip-installable skill package webagents-NAME with tests."""
    from webagents.scaffold import new_skill_package

    try:
        root = new_skill_package(name, directory)
    except (ValueError, FileExistsError) as error:
        raise click.UsageError(str(error)) from error
    click.echo(f"Created {root}")
    click.echo(f"Next: pip install -e {root}[test] && pytest {root}")


@main.command("graph")
@click.argument("target")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also draw it to FILE: .png or .svg (needs Graphviz's dot), .mmd or .dot.",
)
@click.option("--check", is_flag=True, help="Only check the graph: print no diagram.")
def graph_command(target: str, output: Path | None, check: bool) -> None:
    """Check a team's handoff graph and print it as a Mermaid flowchart.

    TARGET is a team file (team.yaml) or what `webagents serve` takes (module:attribute, a
    Python file). Errors and warnings go to stderr, one line each; the diagram to stdout.
    Exits with status 1 when the graph has errors.
    """
    from webagents.server.loading import TargetError
    from webagents.teams.graph import GraphvizNotFoundError, render
    from webagents.teams.graph_target import load_graph

    try:
        report = load_graph(target)
    except (ValueError, OSError) as error:  # TeamFileError, TargetError: they name the fix
        if isinstance(error, TargetError) and error.__cause__ is not None:
            import traceback  # the target's own code raised: show where

            traceback.print_exception(error.__cause__)
        raise click.UsageError(str(error).splitlines()[0]) from None
    for issue in report.errors:
        click.secho(f"error: {issue}", fg="red", err=True)
    for issue in report.warnings:
        click.secho(f"warning: {issue}", fg="yellow", err=True)
    if not check:
        click.echo(report.to_mermaid(), nl=False)
    if output is not None:
        try:
            render(report.start, report.agents, output)
        except GraphvizNotFoundError as error:
            raise click.ClickException(str(error)) from None
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--output") from None
        click.echo(f"Wrote {output}", err=True)
    if report.errors:
        raise click.exceptions.Exit(1)
