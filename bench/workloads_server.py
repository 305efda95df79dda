"""webagents' server under load, and a turn through a remote handoff (ours only: the peer
has no server). ``python bench/workloads_server.py server|remote_turn [--size N] [--rounds R]
[--round-ms MS]`` prints one JSON line, like the other workload files.

``server``: our server (``server_apps.ours``: one agent, an instant in-process model) and the
floor (``server_apps.floor``: a bare Starlette route returning the bytes ours answered, a
plain and a streamed answer), each in its own uvicorn process with the same settings
(``serve.py``), both pinned to one CPU and the load generator (``wrk``, 16 connections) to
another when ``taskset`` and two CPUs are there. One warm-up run each, then each round
loads the floor, ours, the streamed floor and ours streamed in turn, so a slow spell falls on
all of them; figures are medians over rounds.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import uuid
from pathlib import Path
from typing import Any

from _harness import cli, measure, median_us
from load import HERE, Load, LoadResult, Served, cpus, find_wrk, wrk_load
from server_apps import AGENT, STREAM_NAME
from workloads_ours import ANSWER, INSTRUCTIONS, QUESTION, FakeModel

SERVE = HERE / "serve.py"
CHAT = "/agents/{name}/chat/completions"
MESSAGES = [{"role": "user", "content": QUESTION}]
PLAIN = json.dumps({"model": AGENT, "messages": MESSAGES})
STREAMED = json.dumps({"model": AGENT, "messages": MESSAGES, "stream": True})
# figure prefix -> (server, path's agent name, request body); in the order each round runs
RUNS = {
    "server_floor": ("floor", AGENT, PLAIN),
    "server": ("ours", AGENT, PLAIN),
    "server_stream_floor": ("floor", STREAM_NAME, STREAMED),
    "server_stream": ("ours", AGENT, STREAMED),
}


def answers(url: str) -> tuple[bytes, bytes]:
    """Our server's plain and streamed answers to the benchmark's request, checked."""
    import httpx

    endpoint = url + CHAT.format(name=AGENT)
    with httpx.Client() as client:
        plain = client.post(endpoint, content=PLAIN, headers={"content-type": "application/json"})
        streamed = client.post(
            endpoint, content=STREAMED, headers={"content-type": "application/json"}
        )
    plain.raise_for_status()
    streamed.raise_for_status()
    said = plain.json()["choices"][0]["message"]["content"]
    if said != ANSWER:
        raise AssertionError(f"the served agent answered {said!r}")
    events = streamed.content.strip().splitlines()
    if not streamed.headers["content-type"].startswith("text/event-stream") or (
        events[-1] != b"data: [DONE]"
    ):
        raise AssertionError(f"not a server-sent event stream: {streamed.content[:300]!r}")
    return plain.content, streamed.content


def server(
    size: int = 16, rounds: int = 1, round_s: float = 3.0, load: Load | None = None
) -> dict[str, Any]:
    """Requests per second and p99 latency of ours and of the floor, plain and streamed,
    at ``size`` connections; ``load`` is ``wrk_load`` unless a test passes another."""
    if load is None:
        find_wrk()  # before starting anything: say how to install it
        load = wrk_load
    server_cpu, load_cpu = cpus()
    with (
        tempfile.TemporaryDirectory(prefix="bench-server-") as folder,
        Served(SERVE, "server_apps:ours", cpu=server_cpu) as ours,
    ):
        plain, streamed = answers(ours.url)
        body, events = Path(folder) / "body.json", Path(folder) / "events.txt"
        body.write_bytes(plain)
        events.write_bytes(streamed)
        with Served(SERVE, "server_apps:floor", str(body), str(events), cpu=server_cpu) as floor:
            urls = {"ours": ours.url, "floor": floor.url}
            results = _load_all(urls, load, size, rounds, round_s, load_cpu)
    implementations = {"loop": ours.ready["loop"], "http": ours.ready["http"]}
    figures: dict[str, Any] = {"workload": "server"}
    for prefix, runs in results.items():
        figures[f"{prefix}_rps"] = statistics.median(run.rps for run in runs)
        figures[f"{prefix}_p99_ms"] = statistics.median(run.p99_ms for run in runs)
    return {
        **figures,
        "connections": size,
        "rounds": rounds,
        "round_s": round_s,
        "pinned": server_cpu is not None,
        "response_bytes": len(plain),
        "stream_response_bytes": len(streamed),
        "stream_events": streamed.count(b"data: "),
        **implementations,
        "load": getattr(load, "__name__", str(load)),
        "runs": {prefix: [run.as_dict() for run in runs] for prefix, runs in results.items()},
    }


def _load_all(
    urls: dict[str, str], load: Load, size: int, rounds: int, round_s: float, cpu: int | None
) -> dict[str, list[LoadResult]]:
    def run(prefix: str, seconds: float) -> LoadResult:
        which, name, request = RUNS[prefix]
        result = load(urls[which] + CHAT.format(name=name), request, size, seconds, cpu)
        failed = {kind: n for kind, n in result.errors.items() if n}
        if result.requests == 0 or failed.get("status") or failed.get("connect"):
            raise RuntimeError(f"{prefix}: {result.requests} requests, errors {failed}")
        return result

    for prefix in RUNS:  # warm-up: imports, caches, the first connections
        run(prefix, min(1.0, round_s))
    results: dict[str, list[LoadResult]] = {prefix: [] for prefix in RUNS}
    for _ in range(rounds):
        for prefix in RUNS:
            results[prefix].append(run(prefix, round_s))
    return results


async def remote_turn(rounds: int = 15, round_s: float = 0.05) -> dict[str, Any]:
    """A turn through a remote handoff against the bare ``openai`` client calling the same
    served agent directly, with the same messages.

    Our server (``server_apps.ours``) runs in its own process. The turn is ``desk.run()`` of
    a local agent whose instant model transfers to the served agent, registered with
    ``register_remote``: the local model call, the handoff and the remote agent's answer
    through the network's ``RemoteClient``. The bare call is ``chat.completions.create``
    with the messages that handoff sends (captured on a first turn), so the server does the
    same work for both. Nothing is subtracted: ``remote_turn_ratio`` is the whole local turn
    over the bare call, per round, the median over rounds; what it adds to 1 is everything
    the local side does around the one HTTP request both make.

    The ``openai`` client spends about a millisecond of its own per call here (its
    headers, retries bookkeeping and pydantic models), more than a turn's local work, so the
    ratio can come out below 1. ``remote_turn_httpx_ratio`` divides by a bare
    ``httpx.AsyncClient`` POST of the very bytes the handoff sent instead: what the turn adds
    over the HTTP request alone.
    """
    import httpx
    import openai

    from webagents import BaseAgent
    from webagents.agents import AgentNetwork
    from webagents.remote import RemoteClient

    sent: list[bytes] = []

    class Recording(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            sent.append(request.content)
            return await super().handle_async_request(request)

    with Served(SERVE, "server_apps:ours") as served:
        url = f"{served.url}/agents/{AGENT}"
        network = AgentNetwork(f"bench-{uuid.uuid4().hex[:8]}")
        network.register_remote(AGENT, url)
        desk = BaseAgent("desk", INSTRUCTIONS, model=FakeModel(), handoffs=[AGENT], network=network)
        client = openai.AsyncOpenAI(api_key="bench", base_url=url)
        plain_client = httpx.AsyncClient()
        try:
            network.remote_client = RemoteClient(transport=Recording())
            result = await desk.run(QUESTION)
            if (result.content, result.handoff_chain) != (ANSWER, ["desk", AGENT]):
                raise AssertionError(f"went {result.handoff_chain}, said {result.content!r}")
            await network.remote_client.aclose()
            network.remote_client = RemoteClient()  # measured as users get it
            messages = json.loads(sent[-1])["messages"]

            async def bare() -> object:
                completion = await client.chat.completions.create(model=AGENT, messages=messages)
                if completion.choices[0].message.content != ANSWER:
                    raise AssertionError(f"the served agent said {completion}")
                return completion

            async def bare_httpx() -> object:
                response = await plain_client.post(
                    f"{url}/chat/completions",
                    content=sent[-1],
                    headers={"content-type": "application/json"},
                )
                if response.json()["choices"][0]["message"]["content"] != ANSWER:
                    raise AssertionError(f"the served agent said {response.text}")
                return response

            samples = await measure(
                {"bare": bare, "httpx": bare_httpx, "remote": lambda: desk.run(QUESTION)},
                rounds=rounds,
                round_s=round_s,
            )
        finally:
            await client.close()
            await plain_client.aclose()
            await network.aclose()

    def ratio(baseline: str) -> float:
        pairs = zip(samples["remote"], samples[baseline], strict=True)
        return statistics.median(remote / bare for remote, bare in pairs)

    return {
        "workload": "remote_turn",
        "remote_turn_ratio": ratio("bare"),
        "remote_turn_httpx_ratio": ratio("httpx"),
        "remote_turn_us": median_us(samples["remote"]),
        "bare_client_us": median_us(samples["bare"]),
        "bare_httpx_us": median_us(samples["httpx"]),
        "messages_sent": len(messages),
        "rounds": rounds,
    }


WORKLOADS = {"server": server, "remote_turn": remote_turn}

if __name__ == "__main__":
    cli(WORKLOADS)
