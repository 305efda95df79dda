"""``python -m webagents ...``: the ``webagents`` command, for environments without its
console script on PATH."""

from webagents.cli import main

main()
