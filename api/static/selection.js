// Which item, and which of its segments, is selected: "Start here", "End here", the A and R
// keys and the boxes' highlight act on it.

import { seek } from "./player.js";
import { render, reveal } from "./render.js";
import { state } from "./state.js";

// Changes the selection without drawing it: for a change that draws once when it is done.
export function setSelection(index, segmentIndex) {
  state.selected = index;
  const item = state.items[index];
  state.selectedSegment = item && segmentIndex < item.segments.length ? segmentIndex : 0;
}

// seekToIt: the user moved the selection, so its card comes into view and the video goes to
// the segment (not for grabbing an edge, which shows the edge's frame instead).
export function selectItem(item, segmentIndex, seekToIt) {
  const index = state.items.indexOf(item); // -1: a view of a review since reloaded, so none
  setSelection(index, segmentIndex);
  render();
  if (index < 0 || !seekToIt) return;
  reveal(item);
  if (item.segments.length) seek(item.segments[state.selectedSegment].start_s);
}

// The next (step 1) or previous (step -1) item, wrapping round.
export function moveSelection(step) {
  if (!state.items.length) return;
  const next = state.selected < 0 ? 0 : (state.selected + step + state.items.length) % state.items.length;
  selectItem(state.items[next], 0, true);
}
