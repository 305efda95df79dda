// The playground: chat with a served agent over the server's own streaming API and show who
// is speaking, where the conversation goes, tool calls and failures.
//
// Text from users, models and remote agents is data: it only ever reaches the page through
// textContent, never as markup.
//
// Kept in this tab (sessionStorage): the API key, and per agent the session id, its owner,
// the conversation path and the transcript, so a reload continues the same session.
"use strict";

const KEY_STORE = "webagents.playground.key";
const STATE_STORE = "webagents.playground.state.";
const AGENT_STORE = "webagents.playground.agent";

let graph = null; // {start, nodes, edges}
let agentName = null; // the entry agent picked
let state = null; // {sessionId, owner, path, log}
let busy = false;

function newSessionId() {
  // crypto.randomUUID needs a secure context; a plain-http deployment still has this.
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return "pg-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function freshState() {
  return { sessionId: newSessionId(), owner: null, path: [], log: [] };
}

function loadState(agent) {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STATE_STORE + agent));
    if (saved && typeof saved.sessionId === "string" && Array.isArray(saved.log)) return saved;
  } catch (ignored) {
    // an unreadable entry starts over
  }
  return freshState();
}

function saveState() {
  sessionStorage.setItem(STATE_STORE + agentName, JSON.stringify(state));
}

function headers() {
  const result = { "Content-Type": "application/json" };
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) result.Authorization = "Bearer " + key;
  return result;
}

function add(item) {
  state.log.push(item);
  return show(item);
}

function renderAll() {
  $("transcript").replaceChildren();
  shown.clear();
  state.log.forEach(show);
  $("session").textContent = state.sessionId;
  showOwner();
}

function owner() {
  return state.owner || agentName;
}

function showOwner() {
  $("owner").textContent = owner();
  if (graph) window.drawGraph($("graph"), graph, state.path, owner());
}

// The conversation's path with the agents of ``more`` after it (a turn's handoff chain
// starts with the agent that owned the session, already the path's last).
function joined(path, more) {
  const result = path.slice();
  for (const name of more) {
    if (result[result.length - 1] !== name) result.push(name);
  }
  return result;
}

// --- one turn --------------------------------------------------------------------------

// What one streamed answer has shown so far.
class Turn {
  constructor() {
    this.active = null; // the agent of the latest agent.started
    this.bubble = null; // the bubble text goes to
    this.byActivation = new Map(); // agent -> its bubbles since its latest agent.started
    this.handoffs = []; // handoff items of this turn still pending
    this.tools = new Map(); // call id -> tool item
    this.failedFrom = null; // the source of the latest failed handoff (answers as fallback)
    this.taken = []; // targets handed to so far, on the graph before the answer ends
    this.finished = false;
  }

  drawPath() {
    if (graph) window.drawGraph($("graph"), graph, joined(state.path, this.taken), owner());
  }

  bubbleFor(agent) {
    if (this.bubble && this.bubble.agent === agent) return this.bubble;
    if (this.bubble) {
      this.bubble.streaming = false;
      update(this.bubble);
    }
    const item = { kind: "bubble", agent, text: "", streaming: true };
    if (this.failedFrom === agent) {
      item.fallback = true;
      item.note = "fallback answer: the handoff failed, so this agent answers itself";
    } else if (this.active && agent !== this.active) {
      // A remote agent's fallback answers in its place without an agent.started of its own.
      item.fallback = true;
      item.note = `fallback answer: ${this.active} did not answer, ${agent} answers for it`;
    }
    this.bubble = add(item);
    if (!this.byActivation.has(agent)) this.byActivation.set(agent, []);
    this.byActivation.get(agent).push(item);
    return item;
  }

  text(agent, piece) {
    const item = this.bubbleFor(agent);
    item.text += piece;
    update(item);
  }

  closeBubble() {
    if (this.bubble) {
      this.bubble.streaming = false;
      update(this.bubble);
    }
    this.bubble = null;
  }

  event(event) {
    switch (event.type) {
      case "agent.started":
        this.closeBubble();
        this.active = event.agent;
        this.byActivation.set(event.agent, []);
        break;
      case "text.withdrawn":
        for (const item of this.byActivation.get(event.agent) || []) {
          item.withdrawn = true;
          item.streaming = false;
          item.note = `withdrawn: ${event.reason}`;
          update(item);
        }
        this.byActivation.set(event.agent, []);
        if (this.bubble && this.bubble.agent === event.agent) this.bubble = null;
        if (event.replacement) this.text(event.agent, event.replacement);
        break;
      case "tool.call":
        // A transfer is shown as its handoff, not as a tool call.
        if (event.name.startsWith("transfer_to_")) break;
        this.closeBubble();
        this.tools.set(event.call_id, add({
          kind: "tool", agent: event.agent, name: event.name, arguments: event.arguments,
        }));
        break;
      case "tool.result": {
        const item = this.tools.get(event.call_id);
        if (item) {
          item.output = event.output;
          item.isError = event.is_error;
          update(item);
        }
        break;
      }
      case "handoff.transfer":
        this.closeBubble();
        this.handoffs.push(add({
          kind: "handoff", from: event.from_agent, to: event.to_agent, reason: event.reason,
          trigger: event.trigger, status: "pending",
        }));
        this.taken.push(event.to_agent);
        this.drawPath();
        break;
      case "handoff.failed": {
        this.closeBubble();
        let item = this.handoffs.find(
          (h) => h.status === "pending" && h.from === event.from_agent && h.to === event.to_agent,
        );
        if (!item) {
          item = add({
            kind: "handoff", from: event.from_agent, to: event.to_agent, reason: event.reason,
          });
        }
        item.status = "failed";
        item.error = event.error;
        update(item);
        this.failedFrom = event.from_agent;
        const at = this.taken.lastIndexOf(event.to_agent);
        if (at >= 0) this.taken.splice(at, 1);
        this.drawPath();
        break;
      }
      case "agent.completed": {
        // An answer that was not streamed (a fallback set by a hook): show it all at once.
        const mine = (this.byActivation.get(event.agent) || []).filter((b) => !b.withdrawn);
        if (!mine.length && event.content) this.text(event.agent, event.content);
        break;
      }
      default:
        break;
    }
  }

  finish(extension) {
    this.closeBubble();
    this.finished = true;
    const chain = extension.handoff_chain || [];
    for (const item of this.handoffs) {
      if (item.status !== "pending") continue;
      if (chain.includes(item.to)) {
        item.status = "ok";
      } else {
        item.status = "failed";
        item.error = `${item.to} did not answer`;
      }
      update(item);
    }
    state.path = joined(state.path, chain);
    state.owner = extension.agent;
    if (extension.completed) {
      state.owner = agentName;
      add({
        kind: "notice",
        text: `${extension.agent} completed the task; the next message starts at ${agentName}`,
      });
    }
  }
}

function errorText(status, body) {
  const error = body && body.error;
  if (error && error.message) {
    return `Error${status ? " " + status : ""}${error.code ? " (" + error.code + ")" : ""}: ${error.message}`;
  }
  return `Error${status ? " " + status : ""}: the server gave no answer`;
}

async function send(message) {
  const turn = new Turn();
  add({ kind: "user", text: message });
  if (!state.path.length) state.path.push(agentName);
  saveState();
  let response;
  try {
    response = await fetch(`agents/${encodeURIComponent(agentName)}/chat/completions`, {
      method: "POST",
      headers: { ...headers(), "X-Session-Id": state.sessionId },
      body: JSON.stringify({
        messages: [{ role: "user", content: message }],
        stream: true,
        stream_options: { include_tool_events: true },
      }),
    });
  } catch (failure) {
    add({ kind: "error", text: `Could not reach the server: ${failure.message}` });
    return;
  }
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch (ignored) {
      // not JSON: the status says enough
    }
    add({ kind: "error", text: errorText(response.status, body) });
    if (response.status === 401) askForKey("The key was refused; enter another one.");
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let done = false;
  try {
    while (!done) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while (!done && (cut = buffer.indexOf("\n\n")) >= 0) {
        const line = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") {
          done = true;
          break;
        }
        const chunk = JSON.parse(data);
        if (chunk.error) {
          turn.closeBubble();
          add({ kind: "error", text: errorText(null, chunk) });
          done = true;
          break;
        }
        handleChunk(turn, chunk);
      }
    }
  } catch (failure) {
    turn.closeBubble();
    add({ kind: "error", text: `The answer was cut off: ${failure.message}` });
    return;
  }
  if (!done && !turn.finished) {
    turn.closeBubble();
    add({ kind: "error", text: "The answer ended before it was complete." });
  }
}

function handleChunk(turn, chunk) {
  const extension = chunk.webagents || {};
  if (extension.event) {
    turn.event(extension.event);
    return;
  }
  const choice = (chunk.choices || [])[0];
  if (!choice) return; // the usage chunk
  if (choice.delta && choice.delta.content) turn.text(extension.agent, choice.delta.content);
  if (choice.finish_reason) turn.finish(extension);
}

// --- setup -----------------------------------------------------------------------------

function askForKey(problem) {
  $("app").hidden = true;
  $("key-form").hidden = false;
  $("key-error").hidden = !problem;
  $("key-error").textContent = problem || "";
  $("key").focus();
}

function selectAgent(name) {
  agentName = name;
  sessionStorage.setItem(AGENT_STORE, name);
  state = loadState(name);
  renderAll();
}

async function start() {
  let response;
  try {
    response = await fetch("playground/graph.json", { headers: headers() });
  } catch (failure) {
    $("load-error").hidden = false;
    $("load-error").textContent = `Could not reach the server: ${failure.message}`;
    return;
  }
  if (response.status === 401) {
    const hadKey = Boolean(sessionStorage.getItem(KEY_STORE));
    sessionStorage.removeItem(KEY_STORE);
    askForKey(hadKey ? "The key was refused; enter another one." : "");
    return;
  }
  if (!response.ok) {
    $("load-error").hidden = false;
    $("load-error").textContent = `The server did not list its agents (HTTP ${response.status}).`;
    return;
  }
  graph = await response.json();
  $("key-form").hidden = true;
  $("load-error").hidden = true;
  const picker = $("agent");
  picker.replaceChildren();
  for (const node of graph.nodes) {
    if (node.role !== "agent" && node.role !== "start") continue;
    const option = element("option", null, node.name);
    option.value = node.name;
    picker.appendChild(option);
  }
  const remembered = sessionStorage.getItem(AGENT_STORE);
  const names = Array.from(picker.options, (option) => option.value);
  picker.value = names.includes(remembered) ? remembered : graph.start;
  picker.disabled = false;
  $("reset").disabled = false;
  $("app").hidden = false;
  selectAgent(picker.value);
  $("message").focus();
}

function setBusy(value) {
  busy = value;
  $("send").disabled = value;
  $("agent").disabled = value;
  $("reset").disabled = value;
  document.body.dataset.busy = value ? "true" : "false";
}

document.addEventListener("DOMContentLoaded", () => {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORE, $("key").value.trim());
    $("key").value = "";
    start();
  });
  $("agent").addEventListener("change", (event) => selectAgent(event.target.value));
  $("reset").addEventListener("click", () => {
    state = freshState();
    saveState();
    renderAll();
    $("message").focus();
  });
  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = $("message").value.trim();
    if (!message || busy) return;
    $("message").value = "";
    setBusy(true);
    try {
      await send(message);
    } finally {
      saveState();
      showOwner();
      setBusy(false);
    }
  });
  $("message").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  document.body.dataset.busy = "false";
  start();
});
