// Every change the creator makes to the review (a verdict, a segment's edge, a product added
// or removed, a box placed on the frame), the unsaved-changes mark they set, and saving (PUT /v1/jobs/{id}/review). A
// save names the revision it started from: if someone saved in between (409), their review
// is reloaded instead; one the service does not answer is tried again (retry.js). Each change is made to the state, then drawn by one render().

import { getJson, jobPath, putJson, sameProduct } from "./api.js";
import { $ } from "./dom.js";
import { addedItem, applyReview, toDecisions } from "./items.js";
import { clearNotice, setSaveStatus, showNotice } from "./messages.js";
import { currentTime } from "./player.js";
import { buildReview, render } from "./render.js";
import { withRetry } from "./retry.js";
import { setSelection } from "./selection.js";
import { state } from "./state.js";
import { plainMessage } from "./plain.js";
import { clamp, formatTime, roundTime } from "./time.js";
import { clickWord } from "./touch.js";

const MIN_SEGMENT_S = 0.1; // no segment shorter than this, so its edges stay grabbable
const ADDED_SEGMENT_S = 2; // an added product starts with a segment this long

let saving = false;

export function setVerdict(item, verdict) {
  if (!item || !item.suggested || item.verdict === verdict) return;
  item.verdict = verdict;
  markDirty();
  render();
}

// Sets one edge of a segment, kept inside the video and at least MIN_SEGMENT_S long.
export function setEdge(item, index, edge, time) {
  const segment = item.segments[index];
  const t = roundTime(time);
  if (edge === "start") segment.start_s = clamp(t, 0, segment.end_s - MIN_SEGMENT_S);
  else segment.end_s = clamp(t, segment.start_s + MIN_SEGMENT_S, state.duration);
  segment.start_s = roundTime(segment.start_s);
  segment.end_s = roundTime(segment.end_s);
  keepEdited(item);
  markDirty();
  render();
}

// "Start here" / "End here": the selected segment's edge at the current time.
export function edgeHere(edge) {
  const item = state.items[state.selected];
  if (!item || !item.segments.length) {
    showNotice("Select a product first (" + clickWord() + " it in the list or on the timeline).");
    return;
  }
  const segment = item.segments[state.selectedSegment];
  const t = roundTime(currentTime());
  if (edge === "start" && t > segment.end_s - MIN_SEGMENT_S) {
    showNotice("The start must be before the segment's end (" + formatTime(segment.end_s) + ").");
    return;
  }
  if (edge === "end" && t < segment.start_s + MIN_SEGMENT_S) {
    showNotice("The end must be after the segment's start (" + formatTime(segment.start_s) + ").");
    return;
  }
  clearNotice();
  setEdge(item, state.selectedSegment, edge, t);
}

// Adds the product with a segment from the current time; returns its item (null: already there).
export function addProduct(product) {
  if (state.items.some((item) => sameProduct(item, product))) return null;
  const item = addedItem(product, [defaultSegment()]);
  state.items.push(item);
  setSelection(state.items.length - 1, 0);
  markDirty();
  render();
  return item;
}

// Puts a box the creator placed ({ x, y, w, h } in video pixels) on the item's segment at the
// current time (or its first), at the current time kept inside that segment.
export function placeBox(item, rect) {
  if (!state.items.includes(item) || !item.segments.length) return; // removed meanwhile
  const t = roundTime(currentTime() || 0);
  const index = Math.max(0, item.segments.findIndex((s) => s.start_s <= t && t <= s.end_s));
  const segment = item.segments[index];
  segment.box = { time_s: clamp(t, segment.start_s, segment.end_s), ...rect };
  setSelection(state.items.indexOf(item), index);
  markDirty();
  render();
}

export function removeItem(item) {
  const index = state.items.indexOf(item);
  if (index < 0) return;
  state.items.splice(index, 1);
  setSelection(Math.min(index, state.items.length - 1), 0);
  markDirty();
  render();
}

export async function save() {
  if (saving || !state.result) return;
  saving = true;
  $("save-button").disabled = true;
  $("bar-save").disabled = true;
  setSaveStatus("Saving…", "pending");
  const jobId = state.jobId;
  const route = state.route; // the save is given up once the user goes elsewhere
  let edits = state.edits; // a change made while the request is out is not in it
  const attempt = () => {
    edits = state.edits; // each try sends the decisions as they are now
    return putJson(jobPath(jobId) + "/review", { revision: state.revision, decisions: toDecisions() });
  };
  const reconnecting = (seconds) => setSaveStatus("Not saved yet: reconnecting… (trying again in " + seconds + " s)", "pending");
  try {
    const stored = await withRetry(attempt, reconnecting, () => state.route === route);
    state.revision = stored.revision;
    state.dirty = state.edits !== edits;
    if (state.dirty) setSaveStatus("Unsaved changes", "pending");
    else setSaveStatus("Saved", "ok");
  } catch (err) {
    if (state.route !== route) return;
    if (err.status === 409 && err.code === "conflict") await reloadAfterConflict();
    else setSaveStatus("Not saved: " + plainMessage(err), "error");
  } finally {
    saving = false;
    $("save-button").disabled = false;
    $("bar-save").disabled = false;
  }
}

function markDirty() {
  state.edits += 1;
  state.dirty = true;
  state.discardArmed = false;
  setSaveStatus("Unsaved changes", "pending");
}

// Editing a suggestion's segment means keeping it.
function keepEdited(item) {
  if (item.suggested && item.verdict !== "accepted") item.verdict = "accepted";
}

// From now to now + ADDED_SEGMENT_S, moved back where that would pass the end.
function defaultSegment() {
  const duration = state.duration;
  let start = roundTime(Math.min(currentTime() || 0, duration));
  let end = Math.min(duration, start + ADDED_SEGMENT_S);
  if (end - start < MIN_SEGMENT_S) {
    start = Math.max(0, duration - ADDED_SEGMENT_S);
    end = duration;
  }
  return { start_s: roundTime(start), end_s: roundTime(end) };
}

async function reloadAfterConflict() {
  try {
    await applyReview(await getJson(jobPath(state.jobId) + "/review"));
    buildReview();
    setSaveStatus("Not saved: reloaded", "error");
    showNotice("Someone else saved this review in the meantime, so yours was not saved. " +
      "Their version is shown now: make your changes again and save.");
  } catch (err) {
    setSaveStatus(err.message, "error");
  }
}
