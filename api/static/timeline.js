// The timeline under the video: the ruler, one lane per item with its segments, and dragging
// a segment's edges. A click on a lane's empty track seeks there.

import { setEdge } from "./decisions.js";
import { $, el, testId } from "./dom.js";
import { seek } from "./player.js";
import { selectItem } from "./selection.js";
import { state } from "./state.js";
import { clamp, formatSpan, formatTick } from "./time.js";

let drag = null; // the edge being dragged: { item, index, edge, rect (of its track) }

export function buildRuler() {
  const ruler = $("ruler");
  ruler.replaceChildren();
  const duration = state.duration;
  const step = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((s) => duration / s <= 12) || 1200;
  for (let t = 0; t <= duration + 1e-9; t += step) {
    const tick = el("span", "tick", formatTick(t));
    tick.style.left = (100 * t) / duration + "%";
    ruler.append(tick);
  }
}

export function buildLane(item) {
  const lane = testId(el("div", "lane"), "lane");
  lane.dataset.productId = item.productId;
  lane.style.setProperty("--lane", item.colour);
  const label = el("div", "lane-label");
  label.append(el("span", "swatch"), el("span", "lane-title", item.title));
  label.title = item.title;
  label.addEventListener("click", () => selectItem(state.items.indexOf(item), 0, true));
  const track = testId(el("div", "track"), "track");
  // A click on the empty track seeks there.
  track.addEventListener("click", (event) => {
    if (event.target === track) seek(timeAt(event.clientX, track.getBoundingClientRect()));
  });
  lane.append(label, track);
  return lane;
}

// (Re)makes the item's segment elements on its lane, one per segment.
export function buildSegments(item) {
  const track = item.dom.lane.querySelector(".track");
  for (const node of item.dom.segments) node.remove();
  item.dom.segments = item.segments.map((segment, index) => {
    const node = testId(el("div", "segment"), "segment");
    node.dataset.productId = item.productId;
    node.dataset.index = String(index);
    node.classList.toggle("uncertain", Boolean(segment.uncertain));
    const start = testId(el("div", "handle start"), "segment-start-handle");
    const end = testId(el("div", "handle end"), "segment-end-handle");
    bindDrag(start, item, index, "start");
    bindDrag(end, item, index, "end");
    node.append(start, end);
    node.addEventListener("click", (event) => {
      if (event.target !== node) return; // a handle was dragged
      selectItem(state.items.indexOf(item), index, true);
    });
    track.append(node);
    return node;
  });
}

// Places the item's segments on its lane, marks the selected one, and writes their times on
// the item's card.
export function positionSegments(item) {
  const duration = state.duration || 1;
  item.segments.forEach((segment, index) => {
    const node = item.dom.segments[index];
    node.style.left = (100 * segment.start_s) / duration + "%";
    node.style.width = (100 * (segment.end_s - segment.start_s)) / duration + "%";
    node.title = formatSpan(segment) + (segment.uncertain ? " · uncertain" : "");
    const selected = state.items[state.selected] === item && state.selectedSegment === index;
    node.classList.toggle("selected", selected);
  });
  item.dom.card.querySelector(".card-times").textContent = item.segments.map(formatSpan).join(", ");
}

function bindDrag(handle, item, index, edge) {
  handle.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    event.stopPropagation();
    const track = item.dom.lane.querySelector(".track");
    drag = { item, index, edge, rect: track.getBoundingClientRect() };
    handle.setPointerCapture(event.pointerId);
    selectItem(state.items.indexOf(item), index, false);
  });
  handle.addEventListener("pointermove", (event) => {
    if (!drag || drag.item !== item || drag.index !== index) return;
    const t = timeAt(event.clientX, drag.rect);
    setEdge(item, index, edge, t);
    seek(item.segments[index][edge === "start" ? "start_s" : "end_s"]); // show the frame at the edge
  });
  const stop = () => {
    drag = null;
  };
  handle.addEventListener("pointerup", stop);
  handle.addEventListener("pointercancel", stop);
  handle.addEventListener("click", (event) => event.stopPropagation());
}

// The video time under a pointer at clientX on a track.
function timeAt(clientX, rect) {
  return clamp((clientX - rect.left) / rect.width, 0, 1) * state.duration;
}
