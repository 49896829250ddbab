// Draws the items: each one is a card in the sidebar (cards.js), a lane on the timeline
// (timeline.js) and boxes over the video (player.js). This builds them all for a review, adds
// one, and brings one up to date after it changed.

import { buildCard, showCardVerdict, updateCounts } from "./cards.js";
import { $ } from "./dom.js";
import { buildBoxes, renderFrame } from "./player.js";
import { selectItem } from "./selection.js";
import { state } from "./state.js";
import { buildLane, buildRuler, buildSegments, positionSegments } from "./timeline.js";

export function buildReview() {
  $("suggestions").replaceChildren();
  $("lanes").replaceChildren();
  $("overlay").replaceChildren();
  $("search-results").replaceChildren();
  for (const item of state.items) appendItem(item);
  buildRuler();
  updateCounts();
  const stage = $("stage");
  stage.style.aspectRatio = state.result.width + " / " + state.result.height;
  selectItem(state.items.length ? 0 : -1, 0, false);
  renderFrame();
}

export function appendItem(item) {
  item.dom = { card: buildCard(item), lane: buildLane(item), segments: [], boxes: [] };
  $("suggestions").append(item.dom.card);
  $("lanes").append(item.dom.lane);
  refreshItem(item);
}

// Brings an item's card, lane and segments up to date with its state.
export function refreshItem(item) {
  if (!item.dom) return;
  const verdict = item.suggested ? item.verdict || "none" : "added";
  showCardVerdict(item, verdict);
  item.dom.lane.dataset.verdict = verdict;
  if (item.dom.segments.length !== item.segments.length) {
    buildSegments(item);
    buildBoxes(item);
  }
  positionSegments(item);
}

// Takes a removed item's card, lane and boxes off the page.
export function removeItemViews(item) {
  item.dom.card.remove();
  item.dom.lane.remove();
  for (const box of item.dom.boxes) box.remove();
}
