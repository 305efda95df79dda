// The transcript's items as DOM elements: one <li> per log item (a message, a bubble of an
// agent's text, a handoff, a tool call, a notice, an error), built and brought up to date
// here. Every text goes in through textContent: what users, models and remote agents wrote
// is data, never markup.
"use strict";

const $ = (id) => document.getElementById(id);

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function scrollDown() {
  const transcript = $("transcript");
  transcript.scrollTop = transcript.scrollHeight;
}

// Each log item has a kind; render(item) builds its <li>, refresh(item) brings it up to date.
const renderers = {
  user(item) {
    const li = element("li", "bubble user");
    li.appendChild(element("span", "who", "you"));
    li.appendChild(element("div", "text", item.text));
    return li;
  },
  bubble(item) {
    const li = element("li", "bubble agent");
    li.dataset.agent = item.agent;
    li.appendChild(element("span", "who", item.agent));
    li.appendChild(element("div", "text"));
    li.appendChild(element("span", "note"));
    return li;
  },
  handoff(item) {
    const li = element("li", "handoff");
    li.dataset.from = item.from;
    li.dataset.to = item.to;
    li.appendChild(element("span", "route", `${item.from} → ${item.to}`));
    li.appendChild(document.createTextNode(" "));
    li.appendChild(element("span", "status"));
    li.appendChild(element("div", "detail"));
    return li;
  },
  tool(item) {
    const li = element("li", "tool-item");
    const details = element("details", "tool");
    details.dataset.tool = item.name;
    details.appendChild(element("summary"));
    details.appendChild(element("span", "label", "arguments"));
    details.appendChild(element("pre", "arguments", item.arguments));
    details.appendChild(element("span", "label", "result"));
    details.appendChild(element("pre", "result"));
    li.appendChild(details);
    return li;
  },
  notice(item) {
    return element("li", "notice", item.text);
  },
  error(item) {
    return element("li", "error", item.text);
  },
};

const refreshers = {
  bubble(item, li) {
    li.querySelector(".text").textContent = item.text;
    li.classList.toggle("streaming", Boolean(item.streaming));
    li.classList.toggle("fallback", Boolean(item.fallback));
    li.classList.toggle("withdrawn", Boolean(item.withdrawn));
    li.querySelector(".note").textContent = item.note || "";
  },
  handoff(item, li) {
    li.classList.toggle("ok", item.status === "ok");
    li.classList.toggle("failed", item.status === "failed");
    const status = { pending: "transferring…", ok: "handed over", failed: "failed" };
    li.querySelector(".status").textContent = status[item.status];
    const parts = [];
    if (item.reason) parts.push(`reason: ${item.reason}`);
    if (item.trigger) parts.push(`trigger: ${item.trigger}`);
    if (item.error) parts.push(`error: ${item.error}`);
    li.querySelector(".detail").textContent = parts.join(" · ");
  },
  tool(item, li) {
    const done = item.output !== undefined;
    li.querySelector("summary").textContent =
      `${item.agent} called ${item.name}` + (done ? (item.isError ? " (failed)" : "") : " …");
    li.querySelector("details").classList.toggle("failed", Boolean(item.isError));
    li.querySelector(".result").textContent = done ? item.output : "(waiting for the result)";
  },
};

const shown = new Map(); // log item -> its <li>

function show(item) {
  const li = renderers[item.kind](item);
  shown.set(item, li);
  $("transcript").appendChild(li);
  update(item);
  return item;
}

function update(item) {
  const refresh = refreshers[item.kind];
  if (refresh) refresh(item, shown.get(item));
  scrollDown();
}
