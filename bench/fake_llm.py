"""The fake LLM of the ``http`` figure in a process of its own: ``python bench/fake_llm.py``
serves ``FakeOpenAIServer`` (echoing the last user message) and prints one JSON line,
``{"url": ...}``, once it listens; SIGTERM ends it.

In the measuring process its thread competed with the client under test for the GIL, and
the figure swung between runs of the same code (0.98 and 1.21).
"""

from __future__ import annotations

import json
import threading

from webagents.testing import FakeOpenAIServer

if __name__ == "__main__":
    with FakeOpenAIServer() as server:
        print(json.dumps({"url": server.url}), flush=True)
        threading.Event().wait()  # until SIGTERM, whose default action ends the process
