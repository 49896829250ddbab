// Draws the review from the state: each item is a card in the sidebar (cards.js), a lane on the
// timeline (timeline.js) and boxes over the video (player.js). A change to the state (see
// decisions.js and selection.js) is followed by one render(), which brings all of them up to
// date, adding the views of new items and taking off those of removed ones.

import { showActionBar } from "./actionbar.js";
import { buildCard, showCard, showCounts } from "./cards.js";
import { $ } from "./dom.js";
import { buildBoxes, renderFrame } from "./player.js";
import { state } from "./state.js";
import { buildLane, buildRuler, buildSegments, showLane } from "./timeline.js";
import { hasBox } from "./track.js";

// What a click or drag on a card or lane does: set once by review.js, so that the views need
// not import the modules that change the state (which draw the views: a cycle).
let actions = null;
let drawn = []; // the items whose views are on the page

export function bindItemActions(itemActions) {
  actions = itemActions;
}

// Draws a newly loaded review from scratch: the views of the one before go.
export function buildReview() {
  for (const id of ["suggestions", "lanes", "overlay"]) $(id).replaceChildren();
  drawn = [];
  for (const item of state.items) item.dom = null; // any drawn while the review loaded went above
  buildRuler(state.duration);
  $("stage").style.aspectRatio = state.result.width + " / " + state.result.height;
  render();
}

export function render() {
  for (const item of drawn) if (!state.items.includes(item)) removeViews(item);
  for (const item of state.items) if (!item.dom) appendViews(item);
  drawn = [...state.items];
  const selected = state.items[state.selected];
  for (const item of state.items) refreshItem(item, item === selected ? state.selectedSegment : null);
  showCounts(state.items);
  showSelectedLabel(selected);
  showActionBar(selected);
  renderFrame();
}

// Brings the item's card into view (it may be scrolled off the list).
export function reveal(item) {
  item.dom.card.scrollIntoView({ block: "nearest" });
}

function appendViews(item) {
  item.dom = { card: buildCard(item, actions), lane: buildLane(item, actions), segments: [], boxes: [] };
  $("suggestions").append(item.dom.card);
  $("lanes").append(item.dom.lane);
}

function refreshItem(item, selectedSegment) {
  const verdict = item.suggested ? item.verdict || "none" : "added";
  const boxes = item.segments.filter(hasBox).length; // a box placed by hand is a new one
  if (item.dom.segments.length !== item.segments.length || item.dom.boxes.length !== boxes) {
    buildSegments(item, actions);
    buildBoxes(item);
  }
  showCard(item, verdict, selectedSegment !== null);
  showLane(item, verdict, selectedSegment);
}

function removeViews(item) {
  item.dom.card.remove();
  item.dom.lane.remove();
  for (const box of item.dom.boxes) box.remove();
}

function showSelectedLabel(item) {
  const label = $("selected-label");
  if (!item) {
    label.textContent = "";
    return;
  }
  const part = item.segments.length > 1 ? " · segment " + (state.selectedSegment + 1) + " of " + item.segments.length : "";
  label.textContent = item.title + part;
}
