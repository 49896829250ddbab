// The timeline under the video: the ruler, one lane per item with its segments, and dragging
// a segment's edges. A click on a lane's track (a segment too) seeks there. What a click or a drag does
// comes in as actions (see render.js), so that this module shows the review without changing it.
// Segments and their edges are reached with Tab too: Enter selects a segment, the arrow keys
// move a focused edge by EDGE_STEP_S.

import { $, el, testId } from "./dom.js";
import { clamp, formatSpan, formatTick } from "./time.js";

const EDGE_STEP_S = 0.1;

let duration = 0; // of the video: the timeline's length, set with its ruler for each review
let drag = null; // the edge being dragged: { item, index, edge, rect (of its track) }

export function buildRuler(seconds) {
  duration = seconds;
  const ruler = $("ruler");
  ruler.replaceChildren();
  const step = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((s) => duration / s <= 12) || 1200;
  for (let t = 0; t <= duration + 1e-9; t += step) {
    const tick = el("span", "tick", formatTick(t));
    tick.style.left = (100 * t) / duration + "%";
    ruler.append(tick);
  }
}

// actions: { select(item, segmentIndex, seekToIt), seek(time), setEdge(item, index, edge, time) }.
export function buildLane(item, actions) {
  const lane = testId(el("div", "lane"), "lane");
  lane.dataset.productId = item.productId;
  lane.style.setProperty("--lane", item.colour);
  const label = el("div", "lane-label");
  label.append(el("span", "swatch"), el("span", "lane-title", item.title));
  label.title = item.title;
  label.addEventListener("click", () => actions.select(item, 0, true));
  const track = testId(el("div", "track"), "track");
  track.addEventListener("click", (event) => {
    if (event.target === track) actions.seek(timeAt(event.clientX, track.getBoundingClientRect()));
  });
  lane.append(label, track);
  return lane;
}

// (Re)makes the item's segment elements on its lane, one per segment.
export function buildSegments(item, actions) {
  const track = item.dom.lane.querySelector(".track");
  for (const node of item.dom.segments) node.remove();
  item.dom.segments = item.segments.map((segment, index) => {
    const node = testId(el("div", "segment"), "segment");
    node.dataset.productId = item.productId;
    node.dataset.index = String(index);
    node.classList.toggle("uncertain", Boolean(segment.uncertain));
    node.tabIndex = 0;
    node.setAttribute("role", "group");
    node.addEventListener("keydown", (event) => {
      if (event.target !== node || (event.key !== "Enter" && event.key !== " ")) return;
      event.preventDefault();
      event.stopPropagation();
      actions.select(item, index, true);
    });
    const start = testId(el("div", "handle start"), "segment-start-handle");
    const end = testId(el("div", "handle end"), "segment-end-handle");
    for (const [handle, edge] of [[start, "start"], [end, "end"]]) {
      bindDrag(handle, item, index, edge, actions);
      bindEdgeKeys(handle, item, index, edge, actions);
    }
    node.append(start, end);
    // A click selects the segment and seeks where it was clicked (not to the segment's start).
    node.addEventListener("click", (event) => {
      if (event.target !== node) return; // a handle was dragged
      actions.select(item, index, false);
      actions.seek(timeAt(event.clientX, track.getBoundingClientRect()));
    });
    track.append(node);
    return node;
  });
}

// Shows the item's verdict on its lane and places its segments. selectedSegment: the index of
// its selected segment, or null when the item is not the selected one.
export function showLane(item, verdict, selectedSegment) {
  item.dom.lane.dataset.verdict = verdict;
  item.dom.lane.classList.toggle("selected", selectedSegment !== null);
  const length = duration || 1;
  item.segments.forEach((segment, index) => {
    const node = item.dom.segments[index];
    node.style.left = (100 * segment.start_s) / length + "%";
    node.style.width = (100 * (segment.end_s - segment.start_s)) / length + "%";
    node.title = formatSpan(segment) + (segment.uncertain ? " · uncertain" : "");
    node.setAttribute("aria-label", item.title + ", segment " + (index + 1) + ": " + node.title);
    for (const [handle, edge, key] of [[node.children[0], "Start", "start_s"], [node.children[1], "End", "end_s"]]) {
      handle.setAttribute("aria-valuenow", segment[key].toFixed(2));
      handle.setAttribute("aria-valuetext", segment[key].toFixed(2) + " s");
      handle.setAttribute("aria-label", edge + " of " + item.title + ", segment " + (index + 1));
    }
    node.classList.toggle("selected", index === selectedSegment);
  });
}

function bindDrag(handle, item, index, edge, actions) {
  handle.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    event.stopPropagation();
    const track = item.dom.lane.querySelector(".track");
    drag = { item, index, edge, rect: track.getBoundingClientRect() };
    handle.setPointerCapture(event.pointerId);
    actions.select(item, index, false);
  });
  handle.addEventListener("pointermove", (event) => {
    if (!drag || drag.item !== item || drag.index !== index) return;
    actions.setEdge(item, index, edge, timeAt(event.clientX, drag.rect));
    actions.seek(item.segments[index][edge === "start" ? "start_s" : "end_s"]); // show the frame at the edge
  });
  const stop = () => {
    drag = null;
  };
  handle.addEventListener("pointerup", stop);
  handle.addEventListener("pointercancel", stop);
  handle.addEventListener("click", (event) => event.stopPropagation());
}

// An edge is a slider: the arrow keys move it, and the video shows the frame there.
function bindEdgeKeys(handle, item, index, edge, actions) {
  handle.tabIndex = 0;
  handle.setAttribute("role", "slider");
  handle.setAttribute("aria-valuemin", "0");
  handle.setAttribute("aria-valuemax", String(duration));
  handle.addEventListener("keydown", (event) => {
    const step = { ArrowLeft: -EDGE_STEP_S, ArrowRight: EDGE_STEP_S }[event.key];
    if (!step) return;
    event.preventDefault();
    event.stopPropagation();
    const key = edge === "start" ? "start_s" : "end_s";
    actions.select(item, index, false);
    actions.setEdge(item, index, edge, item.segments[index][key] + step);
    actions.seek(item.segments[index][key]);
  });
}

// The video time under a pointer at clientX on a track (or the ruler, which spans the same).
export function timeAt(clientX, rect) {
  return clamp((clientX - rect.left) / rect.width, 0, 1) * duration;
}
