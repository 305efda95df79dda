"""The demo's offline stand-in for the LLM: ``FakeOpenAIServer`` answers each chat-completion
request with ``offline_llm(request)``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from webagents.messages import handoff_context_in

__all__ = ["offline_llm"]

# FakeOpenAIServer answers each chat-completion request with ``offline_llm(request)``. Like a
# real model, it only sees the request: the system prompt, the conversation and the offered
# tools. It picks the offered tool whose name and description best match the customer's words,
# fills the arguments from the message using the tool's JSON schema, and once its own tool has
# answered, replies using the result.

_STOPWORDS = set(
    "a an and are as at be but by can could do does for from hand have how i if in is it its "
    "me my of on or our over please so take the their them this to us we what why with would "
    "you your like want need conversation transfer should".split()
)


def _stems(text: str) -> set[str]:
    words = re.findall(r"[a-z]+", text.lower())
    return {
        (word[:-1] if word.endswith("s") and len(word) > 3 else word)[:5]
        for word in words
        if word not in _STOPWORDS and len(word) > 2
    }


def _vocabulary(tool: Mapping[str, Any]) -> set[str]:
    function = tool["function"]
    text = [function["name"].replace("_", " "), function.get("description", "")]
    for spec in function.get("parameters", {}).get("properties", {}).values():
        text.append(spec.get("description", ""))
        text.extend(str(choice) for choice in spec.get("enum", ()))
    return _stems(" ".join(text))


def _arguments(tool: Mapping[str, Any], message: str) -> dict[str, Any]:
    """Fill a tool's arguments from the message, guided by its JSON schema."""
    parameters = tool["function"].get("parameters", {})
    words = re.findall(r"[\w-]+", message)
    arguments: dict[str, Any] = {}
    for name, spec in parameters.get("properties", {}).items():
        value: Any = None
        if "enum" in spec:
            lowered = [word.lower() for word in words]
            value = next((choice for choice in lowered if choice in spec["enum"]), None)
        elif spec.get("type") in ("integer", "number"):
            number = re.search(r"(?<![\w-])\d+(?:\.\d+)?(?![\w-])", message)
            if number is not None:
                text = number.group()
                value = int(text) if spec["type"] == "integer" else float(text)
        elif spec.get("type") == "string":
            # an identifier such as INV-1001: letters and digits in one word
            value = next((w for w in words if re.search(r"[A-Za-z].*\d|\d.*[A-Za-z]", w)), None)
        if value is None and name in parameters.get("required", ()):
            value = spec["enum"][0] if "enum" in spec else message
        if value is not None:
            arguments[name] = value
    return arguments


def _render(output: str) -> str:
    try:
        data = json.loads(output)
    except ValueError:
        return output
    if isinstance(data, dict):
        return "; ".join(f"{key.replace('_', ' ')}: {value}" for key, value in data.items()) + "."
    return output


def offline_llm(request: dict[str, Any]) -> dict[str, Any]:
    """Answer one chat-completion request the way a sensible model would, from the request."""
    messages: list[dict[str, Any]] = request["messages"]
    tools: list[dict[str, Any]] = request.get("tools") or []
    handed_over = next((data for m in messages if (data := handoff_context_in(m)) is not None), {})
    name = handed_over.get("customer_name")
    hello = f"Hi {name}, " if name else ""

    said_by_user = [
        i for i, m in enumerate(messages) if m.get("role") == "user" and not handoff_context_in(m)
    ]
    last_user = said_by_user[-1]
    question = messages[last_user]["content"]
    this_turn = messages[last_user + 1 :]
    own_tools = {t["function"]["name"] for t in tools if not _is_transfer(t)}

    # 1. This agent's tools already answered this turn: reply with what they said.
    called = {
        call["id"]: call["function"]["name"]
        for m in this_turn
        for call in m.get("tool_calls") or ()
        if call["function"]["name"] in own_tools
    }
    results = [m["content"] for m in this_turn if m.get("tool_call_id") in called]
    if results:
        found = " ".join(_render(result) for result in results)
        return {"content": f"{hello}here is what I found: {found} Anything else I can do?"}

    # 2. A transfer this agent asked for failed: carry on without it.
    last = this_turn[-1] if this_turn else {}
    if last.get("role") == "tool" and str(last.get("content", "")).startswith("Transfer to"):
        return {"content": "I'm sorry, I couldn't put you through. Could you try again later?"}

    # 3. A new request: call the offered tool (a transfer or our own) that matches it best.
    asked = _stems(question)
    scored = [(len(asked & _vocabulary(t)), -i, t) for i, t in enumerate(tools)]
    score, _, best = max(scored, key=lambda item: item[:2], default=(0, 0, None))
    if best is not None and score > 0:
        arguments = _arguments(best, question)
        if _is_transfer(best):
            matched = _vocabulary(best)
            words = [w for w in re.findall(r"[a-z]+", question.lower()) if _stems(w) & matched]
            arguments = {"reason": f"the customer mentions {', '.join(dict.fromkeys(words))}"}
        return {"tool_calls": [{"name": best["function"]["name"], "arguments": arguments}]}
    departments = [t["function"]["name"].removeprefix("transfer_to_") for t in tools]
    if departments:
        listed = ", ".join(d.replace("_", " ") for d in departments)
        return {"content": f"{hello}happy to help! Is this about {listed}?"}
    return {"content": f"{hello}could you tell me a little more so I can help?"}


def _is_transfer(tool: Mapping[str, Any]) -> bool:
    return str(tool["function"]["name"]).startswith("transfer_to_")
