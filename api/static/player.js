// The video and what is drawn over it: loading and playing it, seeking, the current time and
// playhead, and the products' boxes on the picture while their segments play.
//
// The CSP forbids inline styles, so positions are set through element.style (CSSOM), which
// it allows.

import { getBlob, jobPath } from "./api.js";
import { $, el, testId } from "./dom.js";
import { pictureRect } from "./picture.js";
import { state } from "./state.js";
import { clamp, formatTime } from "./time.js";
import { boxAt, hasBox } from "./track.js";

const LABEL_HEIGHT_PX = 20; // a box nearer the top than this has its label inside it

const video = $("video");
let videoUrl = null; // the blob: URL playing, revoked when the video goes
let framePending = false;

export const currentTime = () => video.currentTime;

export function bindVideo() {
  video.addEventListener("play", () => {
    for (const button of document.querySelectorAll("[data-play]")) button.textContent = "Pause";
    renderLoop();
  });
  video.addEventListener("pause", () => {
    for (const button of document.querySelectorAll("[data-play]")) button.textContent = "Play";
  });
  for (const name of ["timeupdate", "seeked", "loadedmetadata", "ended"]) video.addEventListener(name, renderFrame);
  video.addEventListener("error", () => {
    if (video.getAttribute("src")) stageMessage("This browser cannot play this video's format.");
  });
  video.addEventListener("click", togglePlay);
  $("play-button").addEventListener("click", togglePlay);
  new ResizeObserver(renderFrame).observe($("stage"));
}

export async function loadVideo(token) {
  stageMessage("Loading the video…");
  try {
    // With API keys a <video src> could not send the header: fetch it, play the blob.
    const blob = await getBlob(jobPath(state.jobId) + "/video");
    if (token !== state.route) return;
    videoUrl = URL.createObjectURL(blob);
    video.src = videoUrl;
    stageMessage("");
  } catch (err) {
    if (token === state.route) stageMessage("The video could not be loaded: " + err.message);
  }
}

export function unloadVideo() {
  video.pause();
  video.removeAttribute("src");
  video.load();
  if (videoUrl) URL.revokeObjectURL(videoUrl);
  videoUrl = null;
}

export function seek(time) {
  const limit = Number.isFinite(video.duration) ? video.duration : state.duration;
  video.currentTime = clamp(time, 0, limit);
  renderFrame();
}

// One frame back (-1) or on (1): the browser does not say the video's frame rate, so a step is
// FRAME_STEP_S. Stepping pauses, so that the frame stays.
export const FRAME_STEP_S = 0.1;

export function stepFrame(direction) {
  if (!video.src) return;
  video.pause();
  seek((video.currentTime || 0) + direction * FRAME_STEP_S);
}

export function togglePlay() {
  if (!video.src) return;
  if (video.paused) video.play().catch(() => {});
  else video.pause();
}

export function renderFrame() {
  if (!state.result) return;
  const t = video.currentTime || 0;
  $("current-time").textContent = formatTime(t) + " / " + formatTime(state.duration);
  $("playhead").style.left = (100 * clamp(t / (state.duration || 1), 0, 1)) + "%";
  const knob = $("playhead-knob");
  knob.setAttribute("aria-valuemax", state.duration.toFixed(2));
  knob.setAttribute("aria-valuenow", t.toFixed(2));
  knob.setAttribute("aria-valuetext", formatTime(t));
  drawBoxes(t);
}

// (Re)makes the item's boxes on the overlay, one per segment that has a box; drawBoxes shows them.
export function buildBoxes(item) {
  for (const node of item.dom.boxes) node.remove();
  item.dom.boxes = item.segments.map((segment) => {
    if (!hasBox(segment)) return null;
    const box = testId(el("div", "box"), "box");
    box.dataset.productId = item.productId;
    box.classList.toggle("uncertain", Boolean(segment.uncertain));
    box.style.setProperty("--lane", item.colour);
    box.append(el("span", "box-label", item.title));
    box.hidden = true;
    $("overlay").append(box);
    return box;
  }).filter(Boolean);
}

function renderLoop() {
  if (framePending) return;
  framePending = true;
  requestAnimationFrame(() => {
    framePending = false;
    renderFrame();
    if (!video.paused) renderLoop(); // timeupdate alone comes only ~4 times a second
  });
}

// Each box follows its product: where its segment's track has it at time t (see track.js).
function drawBoxes(t) {
  const rect = pictureRect();
  const overlayWidth = $("overlay").clientWidth;
  for (const item of state.items) {
    if (!item.dom) continue;
    let boxIndex = 0;
    item.segments.forEach((segment) => {
      if (!hasBox(segment)) return;
      const box = item.dom.boxes[boxIndex++];
      const visible = item.verdict !== "rejected" && t >= segment.start_s && t <= segment.end_s;
      box.hidden = !visible;
      if (!visible) return;
      const [x, y, w, h] = boxAt(segment, t);
      const left = rect.left + x * rect.x;
      const top = rect.top + y * rect.y;
      box.style.left = left + "px";
      box.style.top = top + "px";
      box.style.width = w * rect.x + "px";
      box.style.height = h * rect.y + "px";
      // The label stays inside the picture: in the box near the top, never past the right edge.
      box.classList.toggle("label-inside", top < LABEL_HEIGHT_PX);
      box.style.setProperty("--label-max", Math.max(40, overlayWidth - left - 4) + "px");
      box.classList.toggle("selected", state.items[state.selected] === item);
    });
  }
}

function stageMessage(text) {
  const message = $("stage-message");
  message.textContent = text;
  message.hidden = !text;
}
