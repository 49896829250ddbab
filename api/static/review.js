// ShopTag review page: upload a clip, watch the tagger's suggestions over the video, accept,
// reject, adjust or add products, and save the decisions (PUT /v1/jobs/{id}/review).
//
// The entry module: routing by the address (#job=<id>), the keyboard shortcuts, the guards
// against leaving unsaved changes, and wiring the controls. Each other module says its job at
// its top. No two import each other: the views (cards, timeline, sheet, placing) are handed what their
// clicks do here; those actions (decisions.js, selection.js) change the state and then draw it
// with one render() (render.js), which draws the views. Nothing runs before start() below.
//
// Security: product fields reach the page as text only (see dom.js), and the CSP forbids
// inline code and styles (see player.js).

import { bindKeyPanel, checkAccess, signedIn } from "./access.js";
import { bindActionBar } from "./actionbar.js";
import { addProduct, edgeHere, placeBox, removeItem, save, setEdge, setVerdict } from "./decisions.js";
import { $ } from "./dom.js";
import { openJob, resetReview, showPanel } from "./job.js";
import { clearBanners, showNotice } from "./messages.js";
import { bindPlacing, startPlacing, stopPlacing } from "./placing.js";
import { bindVideo, currentTime, seek, stepFrame, togglePlay } from "./player.js";
import { bindItemActions } from "./render.js";
import { bindScrubber } from "./scrubber.js";
import { moveSelection, selectItem } from "./selection.js";
import { bindSheet, closeSheet, openSheet } from "./sheet.js";
import { state } from "./state.js";
import { clickWord } from "./touch.js";
import { bindDropZone } from "./upload.js";

let shownHash = ""; // the address of what is shown, to go back to when leaving it would lose changes

// ---------------------------------------------------------------- navigation

function currentJobId() {
  return new URLSearchParams(location.hash.slice(1)).get("job");
}

function route() {
  state.route += 1;
  shownHash = location.hash;
  closeSheet();
  stopPlacing();
  clearBanners();
  const jobId = currentJobId();
  if (jobId) {
    openJob(jobId, state.route);
  } else {
    resetReview();
    showPanel("upload-panel");
  }
}

function newVideo() {
  // No confirm() dialog: a second click discards unsaved changes.
  if (state.dirty && !state.discardArmed) {
    state.discardArmed = true;
    showNotice("You have unsaved changes. Save them, or " + clickWord() + " New video again to discard them.");
    return;
  }
  state.dirty = false;
  history.pushState(null, "", location.pathname + location.search);
  route();
}

function onHashChange() {
  if (!signedIn() || location.hash === shownHash) return;
  // The same rule as New video: leaving unsaved changes takes a second try.
  if (state.dirty && !state.discardArmed) {
    state.discardArmed = true;
    history.replaceState(null, "", location.pathname + location.search + shownHash);
    showNotice("You have unsaved changes. Save them, or go to the other address again to discard them.");
    return;
  }
  state.dirty = false;
  route();
}

// ---------------------------------------------------------------- keyboard

function isTyping(target) {
  return target instanceof HTMLElement &&
    (["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName) || target.isContentEditable);
}

const KEY_ACTIONS = {
  " ": togglePlay,
  ",": () => stepFrame(-1),
  ".": () => stepFrame(1),
  n: () => moveSelection(1),
  ArrowDown: () => moveSelection(1),
  p: () => moveSelection(-1),
  ArrowUp: () => moveSelection(-1),
  a: () => setVerdict(state.items[state.selected], "accepted"),
  r: () => setVerdict(state.items[state.selected], "rejected"),
  "[": () => edgeHere("start"),
  "]": () => edgeHere("end"),
  "+": openSheet,
  Escape: stopPlacing,
};

function onKeyDown(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
  if ($("review").hidden || !$("key-panel").hidden || $("product-sheet").open) return;
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  const action = KEY_ACTIONS[key];
  if (!action) return;
  event.preventDefault(); // no page scroll, and Space does not also press a focused button
  action();
}

// ---------------------------------------------------------------- start

async function start() {
  bindKeyPanel(() => {
    // A key asked for again mid-review keeps what is on screen (unsaved changes included).
    if (!state.result || state.jobId !== currentJobId()) route();
  });
  $("save-button").addEventListener("click", save);
  $("new-video").addEventListener("click", newVideo);
  $("start-here").addEventListener("click", () => edgeHere("start"));
  $("end-here").addEventListener("click", () => edgeHere("end"));
  $("frame-back").addEventListener("click", () => stepFrame(-1));
  $("frame-forward").addEventListener("click", () => stepFrame(1));
  bindScrubber(seek, stepFrame);
  bindActionBar({ togglePlay, setVerdict, save, next: () => moveSelection(1), selected: () => state.items[state.selected] });
  bindItemActions({ select: selectItem, setVerdict, remove: removeItem, setEdge, seek });
  // Adding from the product sheet goes on to placing the product's box on the frame.
  bindSheet({
    add: (product) => {
      const item = addProduct(product);
      if (item) startPlacing(item);
    },
    select: (item) => selectItem(item, 0, false),
    time: currentTime,
  });
  for (const opener of document.querySelectorAll("[data-opens-sheet]")) opener.addEventListener("click", openSheet);
  bindPlacing(placeBox);
  document.addEventListener("keydown", onKeyDown);
  window.addEventListener("hashchange", onHashChange);
  window.addEventListener("beforeunload", (event) => {
    if (state.dirty) event.preventDefault(); // unsaved decisions: let the browser ask
  });
  bindDropZone();
  bindVideo();
  if (await checkAccess()) route();
}

start();
