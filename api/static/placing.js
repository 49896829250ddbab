// Placing a product's box by hand, once it is added from the product sheet: the creator taps
// the video's frame (a box of DEFAULT_SIDE centred there) or drags on it (the rectangle drawn).
// A layer over the video takes the pointer meanwhile, so that a tap does not play the video.
// The box goes to the place action (review.js: decisions.js) in the video's pixels, whole and
// inside the frame; Skip or Escape leaves the product without one.

import { $ } from "./dom.js";
import { pictureRect, toVideoPixels } from "./picture.js";
import { state } from "./state.js";
import { clamp } from "./time.js";
import { clickWord } from "./touch.js";

const DRAG_MIN_PX = 8; // a pointer moved less than this is a tap
const DEFAULT_SIDE = 0.25; // a tapped box's side, as a share of the frame's shorter side

let placing = null; // the item whose box is being placed
let onPlace = null;
let press = null; // the pointer down on the layer: { id, x, y } (client px)

// place(item, { x, y, w, h }) keeps the box.
export function bindPlacing(place) {
  onPlace = place;
  const layer = $("placer");
  layer.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    press = { id: event.pointerId, x: event.clientX, y: event.clientY };
    layer.setPointerCapture(event.pointerId);
  });
  layer.addEventListener("pointermove", (event) => {
    if (press && press.id === event.pointerId && dragged(event)) preview(rectBetween(press, event));
  });
  layer.addEventListener("pointerup", (event) => {
    if (!press || press.id !== event.pointerId) return;
    const rect = dragged(event) ? rectBetween(press, event) : rectAround(event);
    const item = placing;
    stopPlacing();
    onPlace(item, rect);
  });
  layer.addEventListener("pointercancel", () => {
    press = null;
    $("placer-box").hidden = true;
  });
  $("place-skip").addEventListener("click", stopPlacing);
}

export function startPlacing(item) {
  placing = item;
  $("video").pause();
  $("place-text").textContent = capital(clickWord()) + " or drag on the video where " + item.title + " is, to place its box.";
  $("place-prompt").hidden = false;
  $("placer").hidden = false;
}

export const isPlacing = () => placing !== null;

export function stopPlacing() {
  placing = null;
  press = null;
  $("place-prompt").hidden = true;
  $("placer").hidden = true;
  $("placer-box").hidden = true;
}

const capital = (word) => word[0].toUpperCase() + word.slice(1);
const dragged = (event) => Math.hypot(event.clientX - press.x, event.clientY - press.y) >= DRAG_MIN_PX;

// The rectangle between two corners, in whole video pixels inside the frame.
function rectBetween(a, b) { // a: the press; b: a pointer event
  const p = toVideoPixels(a.x, a.y);
  const q = toVideoPixels(b.clientX, b.clientY);
  const x = Math.round(Math.min(p.x, q.x));
  const y = Math.round(Math.min(p.y, q.y));
  const w = Math.max(1, Math.round(Math.max(p.x, q.x)) - x);
  const h = Math.max(1, Math.round(Math.max(p.y, q.y)) - y);
  return fitted(x, y, w, h);
}

// A DEFAULT_SIDE box centred on the tap, moved inside the frame where it would cross an edge.
function rectAround(event) {
  const centre = toVideoPixels(event.clientX, event.clientY);
  const side = Math.max(1, Math.round(DEFAULT_SIDE * Math.min(state.result.width, state.result.height)));
  return fitted(Math.round(centre.x - side / 2), Math.round(centre.y - side / 2), side, side);
}

function fitted(x, y, w, h) {
  const width = state.result.width;
  const height = state.result.height;
  w = Math.min(w, width);
  h = Math.min(h, height);
  return { x: clamp(x, 0, width - w), y: clamp(y, 0, height - h), w, h };
}

// The rectangle being dragged, drawn as a box (video pixels to the stage's, as player.js does).
function preview(rect) {
  const picture = pictureRect();
  const box = $("placer-box");
  box.style.left = picture.left + rect.x * picture.x + "px";
  box.style.top = picture.top + rect.y * picture.y + "px";
  box.style.width = rect.w * picture.x + "px";
  box.style.height = rect.h * picture.y + "px";
  box.hidden = false;
}
