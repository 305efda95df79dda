"""The user documentation cannot drift from the code.

- ``docs/hooks.md`` has a ``## `event` `` section for every hook event, and no other;
- ``docs/events.md`` has a ``## `type` `` section for every run event type, naming each field;
- every runnable snippet runs. In the pages listed in ``RUNNABLE_PAGES``, a block fenced as
  ```` ```python ```` is executed in a fresh namespace (offline: ``OPENAI_API_KEY`` and
  ``OPENAI_BASE_URL`` are removed, so a snippet that needs a real model fails loudly); a block
  fenced as ```` ```python title="test_<name>.py" ```` is a pytest file, written to a temporary
  directory and run by pytest in a subprocess. Fragments are fenced as ```` ```py ```` or
  ```` ```python title="fragment" ```` and are not run;
- relative links between the pages point at pages and headings that exist.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import typing
from dataclasses import dataclass
from pathlib import Path

import pytest

from webagents.agents.skills.decorators import HOOK_EVENTS
from webagents.events import EVENT_TYPES, RunEvent

DOCS = Path(__file__).resolve().parent.parent / "docs"
RUNNABLE_PAGES = (
    "getting-started.md",
    "skills.md",
    "handoffs.md",
    "hooks.md",
    "models.md",
    "testing.md",
    "events.md",
    "nli.md",
    "remote.md",
    "logging.md",
    "sessions.md",
    "payments.md",
    "server.md",
    "teams.md",
    "strategies.md",
    "tracing.md",
    "a2a.md",
    "mcp.md",
)
# Pages the index links to that are written separately; drop a name once its page exists.
PENDING_PAGES: frozenset[str] = frozenset()

_FENCE = re.compile(r"^```(?P<lang>[\w-]*)(?P<attrs>[^`]*)$")
_TITLE = re.compile(r'title="(?P<title>[^"]*)"')


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # line of the opening fence, 1-based
    lang: str
    title: str | None
    source: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def kind(self) -> str | None:
        """ "exec" for a runnable snippet, "pytest" for a test module, None for the rest."""
        if self.lang != "python":
            return None
        if self.title is None:
            return "exec"
        return "pytest" if self.title.startswith("test_") else None


def blocks(page: str) -> list[Block]:
    """The fenced code blocks of ``docs/<page>`` (fences at the start of a line)."""
    found: list[Block] = []
    opening: tuple[int, str, str | None] | None = None
    body: list[str] = []
    for number, line in enumerate((DOCS / page).read_text().splitlines(), start=1):
        if opening is None:
            match = _FENCE.match(line)
            if match:
                title = _TITLE.search(match["attrs"])
                opening = (number, match["lang"], title["title"] if title else None)
                body = []
        elif line.rstrip() == "```":
            start, lang, title_text = opening
            found.append(Block(page, start, lang, title_text, "\n".join(body) + "\n"))
            opening = None
        else:
            body.append(line)
    assert opening is None, f"docs/{page}: the block opened on line {opening[0]} is never closed"
    return found


def runnable(kind: str) -> list[Block]:
    return [block for page in RUNNABLE_PAGES for block in blocks(page) if block.kind == kind]


def section(text: str, heading: str) -> str:
    """The text under the ``## heading`` line up to the next heading of level 1 or 2."""
    lines = text.splitlines()
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if re.match(r"#{1,2} ", lines[i])), len(lines))
    return "\n".join(lines[start:end])


# --- references --------------------------------------------------------------------------


def test_every_hook_event_has_its_section_in_hooks_md() -> None:
    text = (DOCS / "hooks.md").read_text()
    headings = re.findall(r"^## `(\w+)`\s*$", text, re.M)
    missing = [event for event in HOOK_EVENTS if event not in headings]
    assert not missing, f"docs/hooks.md lacks a '## `event`' section for {missing}"
    unknown = [name for name in headings if name not in HOOK_EVENTS]
    assert not unknown, f"docs/hooks.md documents events that do not exist: {unknown}"
    for event in HOOK_EVENTS:
        body = section(text, f"## `{event}`")
        assert "When it fires" in body and "May change" in body, f"## `{event}` is incomplete"


def test_every_event_type_is_documented_with_its_fields() -> None:
    text = (DOCS / "events.md").read_text()
    for event_type in EVENT_TYPES:
        assert f"`{event_type}`" in text, f"docs/events.md never mentions `{event_type}`"
    common = ("run_id", "timestamp")  # every event has them: described once, at the top
    intro = text.split("\n## ", 1)[0]
    for name in common:
        assert f"`{name}`" in intro, f"docs/events.md does not describe `{name}` at the top"
    for cls in typing.get_args(RunEvent):
        heading = f"## `{cls.type}`"
        assert heading in text.splitlines(), f"docs/events.md lacks the heading {heading!r}"
        body = section(text, heading)
        assert f"`{cls.__name__}`" in body, f"{heading} does not name the class {cls.__name__}"
        for field in dataclasses.fields(cls):
            if field.name in common:
                continue
            assert f"`{field.name}`" in body, f"{heading} does not describe field {field.name!r}"


def anchors(page: str) -> set[str]:
    """The heading anchors of ``docs/<page>``, slugged as GitHub and MkDocs do."""
    text = re.sub(r"^```.*?^```", "", (DOCS / page).read_text(), flags=re.M | re.S)
    headings = re.findall(r"^#{1,6} (.+)$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_links_between_pages_resolve() -> None:
    broken = []
    for path in sorted(DOCS.glob("*.md")):
        text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.M | re.S)
        for target, anchor in re.findall(r"\]\(([\w./-]*\.md)?(?:#([\w-]+))?\)", text):
            page = target or path.name
            if not (DOCS / page).is_file():
                if page not in PENDING_PAGES:
                    broken.append(f"{path.name} -> {page}")
            elif anchor and anchor not in anchors(page):
                broken.append(f"{path.name} -> {page}#{anchor}")
    assert not broken, f"links to missing pages or headings: {broken}"


def test_each_runnable_page_has_runnable_snippets() -> None:
    counted = {page: 0 for page in RUNNABLE_PAGES}
    for block in runnable("exec") + runnable("pytest"):
        counted[block.page] += 1
    assert all(counted.values()), f"pages without a runnable snippet: {counted}"


# --- snippets ----------------------------------------------------------------------------


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.mark.parametrize("block", runnable("exec"), ids=lambda block: block.id)
def test_snippet_runs(block: Block, offline: None) -> None:
    # Pad with blank lines so a traceback points at the line in the Markdown page.
    code = compile("\n" * block.line + block.source, f"docs/{block.page}", "exec")
    namespace: dict[str, object] = {"__name__": f"docs_snippet_{block.line}"}
    exec(code, namespace)


@pytest.mark.parametrize("block", runnable("pytest"), ids=lambda block: block.id)
def test_pytest_example_passes(block: Block, tmp_path: Path) -> None:
    assert block.title is not None
    (tmp_path / block.title).write_text(block.source)
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", block.title],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert " passed" in completed.stdout
