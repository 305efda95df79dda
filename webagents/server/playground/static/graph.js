// The handoff graph drawn as plain SVG: agents in columns by their distance from the start
// agent (left to right), edges as curves with arrowheads. Names are set with textContent,
// never parsed as markup.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svgElement(tag, attributes) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    element.setAttribute(name, String(value));
  }
  return element;
}

// Columns: breadth-first distance from the start; agents it cannot reach go in a last column.
function layers(graph) {
  const out = new Map(graph.nodes.map((node) => [node.name, []]));
  for (const edge of graph.edges) {
    if (out.has(edge.source)) out.get(edge.source).push(edge.target);
  }
  const depth = new Map([[graph.start, 0]]);
  const queue = [graph.start];
  while (queue.length) {
    const name = queue.shift();
    for (const next of out.get(name) || []) {
      if (!depth.has(next)) {
        depth.set(next, depth.get(name) + 1);
        queue.push(next);
      }
    }
  }
  const deepest = Math.max(0, ...depth.values());
  const columns = [];
  for (const node of graph.nodes) {
    const column = depth.has(node.name) ? depth.get(node.name) : deepest + 1;
    (columns[column] = columns[column] || []).push(node);
  }
  return columns.filter(Boolean);
}

const NODE_HEIGHT = 34;
const ROW_GAP = 26;
const COLUMN_GAP = 70;
const MARGIN = 16;

// path: the agents of this conversation, in order (consecutive pairs are edges taken);
// owner: the agent that answers the next message.
function drawGraph(svg, graph, path, owner) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const defs = svgElement("defs");
  for (const id of ["arrow", "arrow-on"]) {
    const marker = svgElement("marker", {
      id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7,
      orient: "auto-start-reverse",
    });
    marker.appendChild(svgElement("path", { d: "M 0 0 L 10 5 L 0 10 z" }));
    defs.appendChild(marker);
  }
  svg.appendChild(defs);

  const columns = layers(graph);
  const width = (name) => Math.max(80, 16 + 7.6 * name.length);
  const boxes = new Map();
  let x = MARGIN;
  let tallest = 0;
  for (const column of columns) {
    const columnWidth = Math.max(...column.map((node) => width(node.name)));
    column.forEach((node, row) => {
      const y = MARGIN + row * (NODE_HEIGHT + ROW_GAP);
      boxes.set(node.name, { x, y, w: columnWidth, h: NODE_HEIGHT, node });
    });
    tallest = Math.max(tallest, column.length);
    x += columnWidth + COLUMN_GAP;
  }
  const totalWidth = x - COLUMN_GAP + MARGIN;
  const totalHeight = MARGIN * 2 + tallest * NODE_HEIGHT + (tallest - 1) * ROW_GAP + 40;
  svg.setAttribute("viewBox", `0 0 ${Math.max(totalWidth, 200)} ${totalHeight}`);

  const taken = new Set();
  for (let i = 0; i + 1 < path.length; i += 1) taken.add(`${path[i]}\u0000${path[i + 1]}`);
  const onPath = new Set(path);

  const edges = svgElement("g", { class: "edges" });
  for (const edge of graph.edges) {
    const from = boxes.get(edge.source);
    const to = boxes.get(edge.target);
    if (!from || !to) continue;
    let d;
    let labelX;
    let labelY;
    if (to.x > from.x) {
      const x1 = from.x + from.w;
      const y1 = from.y + from.h / 2;
      const x2 = to.x;
      const y2 = to.y + to.h / 2;
      const bend = (x2 - x1) / 2;
      d = `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`;
      labelX = (x1 + x2) / 2;
      labelY = (y1 + y2) / 2 - 4;
    } else if (to.x === from.x && to !== from) {
      // Within a column: an arc out on the column's right, clear of the boxes between.
      const x1 = from.x + from.w;
      const y1 = from.y + from.h / 2;
      const y2 = to.y + to.h / 2;
      const out = x1 + 28 + Math.abs(y2 - y1) / 6;
      d = `M ${x1} ${y1} C ${out} ${y1}, ${out} ${y2}, ${x1} ${y2}`;
      labelX = out + 4;
      labelY = (y1 + y2) / 2;
    } else {
      // Back edge (or a loop): an arc under both boxes, so it never hides a forward one.
      const x1 = from.x + from.w / 2;
      const y1 = from.y + from.h;
      const x2 = to.x + to.w / 2 + (to === from ? 12 : 0);
      const y2 = to.y + to.h;
      const dip = Math.max(y1, y2) + 30;
      d = `M ${x1} ${y1} C ${x1} ${dip}, ${x2} ${dip}, ${x2} ${y2}`;
      labelX = (x1 + x2) / 2;
      labelY = dip - 2;
    }
    const isTaken = taken.has(`${edge.source}\u0000${edge.target}`);
    const kind = edge.triggers.includes("transfer")
      ? "transfer"
      : edge.triggers.includes("condition") ? "condition" : "fallback";
    const line = svgElement("path", {
      d,
      class: `edge ${kind}${isTaken ? " on-path" : ""}`,
      "marker-end": `url(#${isTaken ? "arrow-on" : "arrow"})`,
      "data-source": edge.source,
      "data-target": edge.target,
    });
    const title = svgElement("title");
    title.textContent = `${edge.source} → ${edge.target}: ${edge.triggers.join(" + ")}`;
    line.appendChild(title);
    edges.appendChild(line);
    if (edge.triggers.join() !== "transfer") {
      // The common case (a transfer tool) goes unlabelled; the legend says what solid means.
      const label = svgElement("text", { x: labelX, y: labelY, class: "edge-label" });
      label.textContent = edge.triggers.join(" + ");
      edges.appendChild(label);
    }
  }
  svg.appendChild(edges);

  const nodes = svgElement("g", { class: "nodes" });
  for (const box of boxes.values()) {
    const { node } = box;
    const classes = ["node", node.role];
    if (onPath.has(node.name)) classes.push("on-path");
    if (node.name === owner) classes.push("owner");
    const group = svgElement("g", { class: classes.join(" "), "data-agent": node.name });
    const title = svgElement("title");
    title.textContent = node.description ? `${node.name}: ${node.description}` : node.name;
    group.appendChild(title);
    group.appendChild(svgElement("rect", { x: box.x, y: box.y, width: box.w, height: box.h }));
    const label = svgElement("text", { x: box.x + box.w / 2, y: box.y + box.h / 2 });
    label.textContent = node.name;
    group.appendChild(label);
    nodes.appendChild(group);
  }
  svg.appendChild(nodes);
}

window.drawGraph = drawGraph;
