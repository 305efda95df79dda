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
