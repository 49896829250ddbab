// Which item, and which of its segments, is selected: "Start here", "End here", the A and R
// keys and the boxes' highlight act on it.

import { $ } from "./dom.js";
import { seek } from "./player.js";
import { state } from "./state.js";
import { positionSegments } from "./timeline.js";

// seekToIt: the user moved the selection, so its card comes into view and the video goes to
// the segment (not for the selection made on load, or by grabbing an edge).
export function selectItem(index, segmentIndex, seekToIt) {
  state.selected = index;
  const item = state.items[index];
  state.selectedSegment = item && segmentIndex < item.segments.length ? segmentIndex : 0;
  for (const other of state.items) {
    if (!other.dom) continue;
    other.dom.card.classList.toggle("selected", other === item);
    other.dom.lane.classList.toggle("selected", other === item);
    positionSegments(other);
  }
  updateSelectedLabel();
  if (!item || !seekToIt) return;
  item.dom.card.scrollIntoView({ block: "nearest" });
  if (item.segments.length) seek(item.segments[state.selectedSegment].start_s);
}

// The next (step 1) or previous (step -1) item, wrapping round.
export function moveSelection(step) {
  if (!state.items.length) return;
  const next = state.selected < 0 ? 0 : (state.selected + step + state.items.length) % state.items.length;
  selectItem(next, 0, true);
}

function updateSelectedLabel() {
  const item = state.items[state.selected];
  const label = $("selected-label");
  if (!item) {
    label.textContent = "";
    return;
  }
  const part = item.segments.length > 1 ? " · segment " + (state.selectedSegment + 1) + " of " + item.segments.length : "";
  label.textContent = item.title + part;
}
