// Sending a video: the drop zone and file picker, and the upload's progress. Once the service
// has the file, the address becomes #job=<id>, and the hashchange opens the job. Meanwhile the
// browser checks whether it can play the file (playable.js): if not, the job says so.

import { authHeaders, errorOf } from "./api.js";
import { $ } from "./dom.js";
import { clearBanners, showError } from "./messages.js";
import { plainMessage } from "./plain.js";
import { checkPlayable } from "./playable.js";

// Said about a file this browser cannot play: the job that uploaded it shows it (uploadNote).
const UNPLAYABLE_NOTE = "This browser cannot play this file as it is. It is uploaded all the same: " +
  "once it is tagged, the review plays the service's copy of it.";
let note = null; // { jobId, text } for the last upload

export function bindDropZone() {
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    uploadFile(event.dataTransfer.files[0]);
  });
  // A file dropped next to the zone must not make the browser navigate to it.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
  $("file-input").addEventListener("change", (event) => uploadFile(event.target.files[0]));
}

// Back to an idle drop zone, ready for the next file.
export function resetUploadForm() {
  $("upload-block").hidden = true;
  $("upload-note").hidden = true;
  $("drop-zone").classList.remove("busy");
  $("file-input").value = ""; // so that choosing the same file again uploads it again
}

function uploadFile(file) {
  if (!file || $("drop-zone").classList.contains("busy")) return;
  clearBanners();
  const bar = $("upload-progress");
  const status = $("upload-status");
  $("upload-block").hidden = false;
  $("drop-zone").classList.add("busy");
  bar.value = 0;
  status.textContent = "Uploading " + file.name + "…";
  $("upload-note").hidden = true;
  const playable = checkPlayable(file);
  playable.then((answer) => {
    $("upload-note").textContent = UNPLAYABLE_NOTE;
    $("upload-note").hidden = answer !== false || $("upload-block").hidden;
  });

  const form = new FormData();
  form.append("file", file, file.name);
  // XMLHttpRequest, not fetch: only it reports upload progress.
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/v1/jobs");
  for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
  xhr.upload.onprogress = (event) => {
    if (!event.lengthComputable) return;
    const percent = Math.round((100 * event.loaded) / event.total);
    bar.value = percent;
    status.textContent = percent + "% of " + formatBytes(event.total);
  };
  xhr.upload.onload = () => {
    bar.value = 100;
    status.textContent = "Uploaded, starting…";
  };
  xhr.onload = () => onUploaded(xhr, playable);
  xhr.onerror = () => uploadFailed("The upload failed: the service could not be reached. Check your connection and try again.");
  xhr.send(form);
}

// The note about the uploaded file, for the job it became (null when none).
export function uploadNote(jobId) {
  return note && note.jobId === jobId ? note.text : null;
}

async function onUploaded(xhr, playable) {
  let body = null;
  try {
    body = JSON.parse(xhr.responseText);
  } catch (err) {
    // handled below
  }
  if (xhr.status === 202 || xhr.status === 200) {
    note = (await playable) === false ? { jobId: body.id, text: UNPLAYABLE_NOTE } : null;
    location.hash = "job=" + encodeURIComponent(body.id); // hashchange opens the job
    return;
  }
  const error = await errorOf(xhr.status, () => body);
  uploadFailed(plainMessage(error));
}

function uploadFailed(message) {
  resetUploadForm();
  showError(message);
}

function formatBytes(bytes) {
  if (bytes < 1024 * 1024) return Math.ceil(bytes / 1024) + " KB";
  return (bytes / (1024 * 1024)).toFixed(1) + " MB";
}
