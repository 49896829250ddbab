// The video and what is drawn over it: loading and playing it, seeking, the current time and
// playhead, and the products' boxes on the picture while their segments play.
//
// The CSP forbids inline styles, so positions are set through element.style (CSSOM), which
// it allows.

import { getBlob, jobPath } from "./api.js";
import { $, el, testId } from "./dom.js";
import { state } from "./state.js";
import { clamp, formatTime } from "./time.js";

const video = $("video");
let videoUrl = null; // the blob: URL playing, revoked when the video goes
let framePending = false;

export const currentTime = () => video.currentTime;

export function bindVideo() {
  video.addEventListener("play", () => {
    $("play-button").textContent = "Pause";
    renderLoop();
  });
  video.addEventListener("pause", () => {
    $("play-button").textContent = "Play";
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
  drawBoxes(t);
}

// (Re)makes the item's boxes on the overlay, one per segment that has a box; drawBoxes shows them.
export function buildBoxes(item) {
  for (const node of item.dom.boxes) node.remove();
  item.dom.boxes = item.segments.map((segment) => {
    if (!segment.bbox) return null;
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

// The video is letterboxed inside its element (object-fit: contain): boxes are scaled from
// the result's pixels to the displayed picture and offset by the bars.
function pictureRect() {
  const width = video.clientWidth;
  const height = video.clientHeight;
  const naturalW = video.videoWidth || state.result.width;
  const naturalH = video.videoHeight || state.result.height;
  const scale = Math.min(width / naturalW, height / naturalH);
  const shownW = naturalW * scale;
  const shownH = naturalH * scale;
  return {
    left: video.offsetLeft + (width - shownW) / 2,
    top: video.offsetTop + (height - shownH) / 2,
    x: shownW / state.result.width,
    y: shownH / state.result.height,
  };
}

function drawBoxes(t) {
  const rect = pictureRect();
  for (const item of state.items) {
    if (!item.dom) continue;
    let boxIndex = 0;
    item.segments.forEach((segment) => {
      if (!segment.bbox) return;
      const box = item.dom.boxes[boxIndex++];
      const visible = item.verdict !== "rejected" && t >= segment.start_s && t <= segment.end_s;
      box.hidden = !visible;
      if (!visible) return;
      const [x, y, w, h] = segment.bbox;
      box.style.left = rect.left + x * rect.x + "px";
      box.style.top = rect.top + y * rect.y + "px";
      box.style.width = w * rect.x + "px";
      box.style.height = h * rect.y + "px";
      box.classList.toggle("selected", state.items[state.selected] === item);
    });
  }
}

function stageMessage(text) {
  const message = $("stage-message");
  message.textContent = text;
  message.hidden = !text;
}
