// One job on the page: which panel shows, polling the job until it is tagged, then loading
// its saved review and its video. Every step takes the route token it was started under and
// stops once the user has gone elsewhere (state.route moved on). A poll the service does not
// answer is tried again (retry.js), saying "Reconnecting…" meanwhile.

import { getJson, jobPath } from "./api.js";
import { $ } from "./dom.js";
import { applyReview } from "./items.js";
import { setSaveStatus, showError, showNotice } from "./messages.js";
import { loadVideo, unloadVideo } from "./player.js";
import { buildReview } from "./render.js";
import { withRetry } from "./retry.js";
import { state } from "./state.js";
import { formatTime, sleep } from "./time.js";
import { plainMessage } from "./plain.js";
import { resetUploadForm, uploadNote } from "./upload.js";

const POLL_MS = 500;

export function showPanel(id) {
  for (const panel of ["upload-panel", "processing-panel", "review"]) $(panel).hidden = panel !== id;
  $("save-button").hidden = id !== "review";
  $("action-bar").hidden = id !== "review";
  $("new-video").hidden = id === "upload-panel";
  if (id === "upload-panel") resetUploadForm();
}

export async function openJob(jobId, token) {
  resetReview();
  state.jobId = jobId;
  showPanel("processing-panel");
  showJobProgress(null);
  const note = uploadNote(jobId);
  if (note) showNotice(note);
  for (;;) {
    let job;
    try {
      job = await withRetry(() => getJson(jobPath(jobId)), showReconnecting, () => token === state.route);
    } catch (err) {
      if (token !== state.route) return;
      showPanel("upload-panel");
      if (err.status !== 401) showError("Job " + jobId + ": " + plainMessage(err));
      return;
    }
    if (token !== state.route) return;
    $("job-title").textContent = job.video;
    if (job.status === "succeeded") return showReview(job, token);
    if (job.status === "failed") {
      showPanel("upload-panel");
      showError("Tagging failed: " + ((job.error && job.error.message) || "unknown error"));
      return;
    }
    showJobProgress(job);
    await sleep(POLL_MS);
    if (token !== state.route) return;
  }
}

function showReconnecting(seconds) {
  showPanel("processing-panel");
  $("processing-status").textContent = "Reconnecting… (trying again in " + seconds + " s)";
  $("processing-status").dataset.kind = "reconnecting";
}

// Forgets the job on screen: nothing of it is shown or kept.
export function resetReview() {
  state.result = null;
  state.catalogs = null;
  state.jobId = null;
  state.items = [];
  state.selected = -1;
  state.dirty = false;
  state.discardArmed = false;
  state.revision = 0;
  unloadVideo();
  $("job-title").textContent = "";
  setSaveStatus("");
}

function showJobProgress(job) {
  const bar = $("processing-progress");
  const status = $("processing-status");
  const progress = (job && job.progress) || {};
  status.dataset.kind = "";
  if (!job) {
    status.textContent = "Loading the job…";
  } else if (job.status === "queued") {
    status.textContent = "Queued, waiting for a worker…";
  } else if (progress.frames_total > 0) {
    status.textContent = "Frames " + progress.frames_done + " of " + progress.frames_total;
    bar.value = Math.round((100 * progress.frames_done) / progress.frames_total);
    return;
  } else {
    status.textContent = "Starting…";
  }
  bar.removeAttribute("value"); // indeterminate until frames are counted
}

async function showReview(job, token) {
  state.result = job.result;
  state.catalogs = job.catalogs || null;
  state.duration = job.result.duration_s;
  $("job-title").textContent = job.video + " · " + formatTime(state.duration);
  let review = { revision: 0, decisions: [] };
  try {
    review = await getJson(jobPath(state.jobId) + "/review");
  } catch (err) {
    if (token !== state.route) return;
    showError("The saved review could not be loaded: " + err.message);
  }
  await applyReview(review);
  if (token !== state.route) return;
  buildReview();
  showPanel("review");
  loadVideo(token);
}
