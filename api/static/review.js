// ShopTag review page: upload a clip, watch the tagger's suggestions over the video, accept,
// reject, adjust or add products, and save the decisions (PUT /v1/jobs/{id}/review).
//
// Security: every product field (id, title, url, alternatives) comes from a catalog that
// anyone with a merchant key can write. It only ever reaches the page through textContent
// and createElement, never through innerHTML, and the CSP forbids inline code and styles, so
// positions are set with element.style (CSSOM), which the CSP allows.
"use strict";

(function () {
  const KEY_STORAGE = "shoptag.apiKey"; // sessionStorage only: gone when the tab closes
  const POLL_MS = 500;
  const MIN_SEGMENT_S = 0.1; // no segment shorter than this, so its edges stay grabbable
  const ADDED_SEGMENT_S = 2; // an added product starts with a segment this long
  const LANE_COLOURS = ["#4f9dff", "#ff8a5b", "#3fd08f", "#c58cff", "#ffc857", "#ff5f8f", "#33d1d6", "#a7d95a"];

  const $ = (id) => document.getElementById(id);
  const video = $("video");

  const state = {
    key: sessionStorage.getItem(KEY_STORAGE) || "",
    me: null, // GET /v1/me once access works
    route: 0, // bumped on every navigation, so that stale polls and loads stop
    jobId: null,
    result: null, // the job's TagResult
    duration: 0,
    items: [], // one per lane: suggestions, then added products
    selected: -1,
    selectedSegment: 0,
    revision: 0,
    dirty: false,
    edits: 0, // changes made, counted: a save knows whether more came while it ran
    shownHash: "", // the address of what is shown, to go back to when leaving it would lose changes
    saving: false,
    drag: null,
    discardArmed: false,
    coloursUsed: 0,
  };
  const thumbnails = new Map(); // product_id -> Promise of an object URL (or null)
  let videoUrl = null;

  // ---------------------------------------------------------------- the service

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function authHeaders() {
    return state.key ? { Authorization: "Bearer " + state.key } : {};
  }

  async function request(method, path, json) {
    const headers = authHeaders();
    let body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    }
    let response;
    try {
      response = await fetch(path, { method, headers, body, credentials: "omit", cache: "no-store" });
    } catch (err) {
      throw new ApiError(0, "network", "The service could not be reached.");
    }
    if (!response.ok) {
      throw await errorOf(response.status, () => response.json());
    }
    return response;
  }

  // Every non-2xx answer is {"error": {"code", "message"}}: the message is what the user sees.
  async function errorOf(status, readBody) {
    let code = "http_" + status;
    let message = "The service answered " + status + ".";
    try {
      const body = await readBody();
      if (body && body.error) {
        code = String(body.error.code || code);
        message = String(body.error.message || message);
      }
    } catch (err) {
      // not JSON: keep the generic message
    }
    const error = new ApiError(status, code, message);
    if (status === 401) onUnauthorized(error);
    return error;
  }

  const getJson = async (path) => (await request("GET", path)).json();
  const putJson = async (path, json) => (await request("PUT", path, json)).json();
  const getBlob = async (path) => (await request("GET", path)).blob();

  // Product ids may hold "/" and anything else: encode each part, keep the slashes.
  function productPath(productId) {
    return productId.split("/").map(encodeURIComponent).join("/");
  }

  // A "." or ".." part would be resolved away by the browser's URL parser (even encoded),
  // so the request would name another path: such ids are not fetched by path at all.
  function fetchableById(productId) {
    return !productId.split("/").some((part) => /^(\.|%2e){1,2}$/i.test(part));
  }

  const jobPath = (jobId) => "/v1/jobs/" + encodeURIComponent(jobId);

  // ---------------------------------------------------------------- access (API keys)

  async function checkAccess() {
    try {
      state.me = await getJson("/v1/me");
    } catch (err) {
      state.me = null;
      if (err.status !== 401) showError(err.message); // 401: onUnauthorized asked for a key
      return false;
    }
    $("key-panel").hidden = true;
    $("key-role").textContent = state.me.keys_required ? "Signed in with a " + state.me.role + " key" : "Local mode";
    $("key-forget").hidden = !state.me.keys_required;
    return true;
  }

  function onUnauthorized(error) {
    const refused = Boolean(state.key);
    forgetKey();
    showKeyPanel(refused ? "That key was refused: " + error.message : "");
  }

  function forgetKey() {
    state.key = "";
    state.me = null;
    sessionStorage.removeItem(KEY_STORAGE);
    $("key-forget").hidden = true;
    $("key-role").textContent = "";
  }

  function showKeyPanel(message) {
    $("key-error").textContent = message;
    $("key-panel").hidden = false;
    $("key-input").value = "";
    $("key-input").focus();
  }

  async function submitKey(event) {
    event.preventDefault();
    const key = $("key-input").value.trim();
    if (!key) return;
    state.key = key;
    sessionStorage.setItem(KEY_STORAGE, key);
    if (!(await checkAccess())) return;
    // A key asked for again mid-review keeps what is on screen (unsaved changes included).
    if (!state.result || state.jobId !== currentJobId()) route();
  }

  // ---------------------------------------------------------------- navigation

  function currentJobId() {
    return new URLSearchParams(location.hash.slice(1)).get("job");
  }

  function route() {
    state.route += 1;
    state.shownHash = location.hash;
    clearBanners();
    const jobId = currentJobId();
    if (jobId) {
      openJob(jobId, state.route);
    } else {
      resetReview();
      showPanel("upload-panel");
    }
  }

  function showPanel(id) {
    for (const panel of ["upload-panel", "processing-panel", "review"]) $(panel).hidden = panel !== id;
    $("save-button").hidden = id !== "review";
    $("new-video").hidden = id === "upload-panel";
    if (id === "upload-panel") {
      $("upload-block").hidden = true;
      $("drop-zone").classList.remove("busy");
      $("file-input").value = ""; // so that choosing the same file again uploads it again
    }
  }

  function newVideo() {
    // No confirm() dialog: a second click discards unsaved changes.
    if (state.dirty && !state.discardArmed) {
      state.discardArmed = true;
      showNotice("You have unsaved changes. Save them, or click New video again to discard them.");
      return;
    }
    state.dirty = false;
    history.pushState(null, "", location.pathname + location.search);
    route();
  }

  // ---------------------------------------------------------------- upload

  function uploadFile(file) {
    if (!file || $("drop-zone").classList.contains("busy")) return;
    clearBanners();
    const bar = $("upload-progress");
    const status = $("upload-status");
    $("upload-block").hidden = false;
    $("drop-zone").classList.add("busy");
    bar.value = 0;
    status.textContent = "Uploading " + file.name + "…";

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
    xhr.onload = () => onUploaded(xhr);
    xhr.onerror = () => uploadFailed("The upload failed: the service could not be reached.");
    xhr.send(form);
  }

  async function onUploaded(xhr) {
    let body = null;
    try {
      body = JSON.parse(xhr.responseText);
    } catch (err) {
      // handled below
    }
    if (xhr.status === 202 || xhr.status === 200) {
      location.hash = "job=" + encodeURIComponent(body.id); // hashchange opens the job
      return;
    }
    const error = await errorOf(xhr.status, () => body);
    uploadFailed(xhr.status === 429 ? "The service is busy, try again shortly: " + error.message : error.message);
  }

  function uploadFailed(message) {
    $("drop-zone").classList.remove("busy");
    $("upload-block").hidden = true;
    $("file-input").value = "";
    showError(message);
  }

  function bindDropZone() {
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

  // ---------------------------------------------------------------- a job: poll, then review

  async function openJob(jobId, token) {
    resetReview();
    state.jobId = jobId;
    showPanel("processing-panel");
    showJobProgress(null);
    for (;;) {
      let job;
      try {
        job = await getJson(jobPath(jobId));
      } catch (err) {
        if (token !== state.route) return;
        showPanel("upload-panel");
        if (err.status !== 401) showError("Job " + jobId + ": " + err.message);
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

  function showJobProgress(job) {
    const bar = $("processing-progress");
    const status = $("processing-status");
    const progress = (job && job.progress) || {};
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

  function resetReview() {
    state.result = null;
    state.jobId = null;
    state.items = [];
    state.selected = -1;
    state.dirty = false;
    state.discardArmed = false;
    state.revision = 0;
    video.pause();
    video.removeAttribute("src");
    video.load();
    if (videoUrl) URL.revokeObjectURL(videoUrl);
    videoUrl = null;
    $("job-title").textContent = "";
    setSaveStatus("");
  }

  async function loadVideo(token) {
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

  // ---------------------------------------------------------------- items and decisions

  function suggestionItem(tag) {
    return {
      productId: tag.product_id,
      title: tag.title,
      url: tag.url,
      score: tag.score,
      alternatives: tag.alternatives || [],
      suggested: true,
      original: tag.segments,
      verdict: null,
      segments: tag.segments.map((segment) => ({ ...segment })),
      colour: nextColour(),
      dom: null,
    };
  }

  function addedItem(product, segments) {
    return {
      productId: product.product_id,
      title: product.title,
      url: product.url,
      score: null,
      alternatives: [],
      suggested: false,
      original: [],
      verdict: "added",
      segments,
      colour: nextColour(),
      dom: null,
    };
  }

  function nextColour() {
    return LANE_COLOURS[state.coloursUsed++ % LANE_COLOURS.length];
  }

  // Puts a saved review on the suggestions: verdicts, adjusted segments, added products.
  async function applyReview(review) {
    state.coloursUsed = 0;
    state.revision = review.revision;
    state.items = state.result.tags.map(suggestionItem);
    const suggested = new Map(state.items.map((item) => [item.productId, item]));
    const added = [];
    for (const decision of review.decisions) {
      const item = suggested.get(decision.product_id);
      if (item && decision.verdict !== "added") {
        item.verdict = decision.verdict;
        if (decision.verdict === "accepted") item.segments = decision.segments.map((s) => withBox(s, item.original));
      } else if (decision.verdict === "added") {
        added.push(decision);
      }
      // (the service stores accepted and rejected decisions for suggestions only)
    }
    const products = await Promise.all(added.map((decision) => lookUpProduct(decision.product_id)));
    added.forEach((decision, i) => {
      state.items.push(addedItem(products[i], decision.segments.map((s) => ({ start_s: s.start_s, end_s: s.end_s }))));
    });
    state.dirty = false;
  }

  // An adjusted segment keeps the box (and uncertainty) of the suggested one it overlaps most.
  function withBox(saved, originals) {
    let best = null;
    let bestOverlap = -Infinity;
    for (const original of originals) {
      const overlap = Math.min(saved.end_s, original.end_s) - Math.max(saved.start_s, original.start_s);
      if (overlap > bestOverlap) {
        best = original;
        bestOverlap = overlap;
      }
    }
    return { ...(best || {}), start_s: saved.start_s, end_s: saved.end_s };
  }

  async function lookUpProduct(productId) {
    if (fetchableById(productId)) {
      try {
        return (await getJson("/v1/products/" + productPath(productId))).product;
      } catch (err) {
        // removed from the catalog since: still show the decision, under its id
      }
    }
    return { product_id: productId, title: productId, url: null };
  }

  function decisions() {
    const out = [];
    for (const item of state.items) {
      const segments = item.segments.map((s) => ({ start_s: s.start_s, end_s: s.end_s }));
      if (!item.suggested) out.push({ product_id: item.productId, verdict: "added", segments });
      else if (item.verdict === "accepted") out.push({ product_id: item.productId, verdict: "accepted", segments });
      else if (item.verdict === "rejected") out.push({ product_id: item.productId, verdict: "rejected", segments: [] });
    }
    return out;
  }

  function markDirty() {
    state.edits += 1;
    state.dirty = true;
    state.discardArmed = false;
    setSaveStatus("Unsaved changes", "pending");
  }

  function setVerdict(item, verdict) {
    if (!item || !item.suggested || item.verdict === verdict) return;
    item.verdict = verdict;
    refreshItem(item);
    renderFrame();
    markDirty();
  }

  // Editing a suggestion's segment means keeping it.
  function keepEdited(item) {
    if (item.suggested && item.verdict !== "accepted") item.verdict = "accepted";
  }

  async function save() {
    if (state.saving || !state.result) return;
    state.saving = true;
    $("save-button").disabled = true;
    setSaveStatus("Saving…", "pending");
    try {
      const edits = state.edits; // a change made while the request is out is not in it
      const stored = await putJson(jobPath(state.jobId) + "/review", { revision: state.revision, decisions: decisions() });
      state.revision = stored.revision;
      state.dirty = state.edits !== edits;
      if (state.dirty) setSaveStatus("Unsaved changes", "pending");
      else setSaveStatus("Saved", "ok");
    } catch (err) {
      if (err.status === 409 && err.code === "conflict") await reloadAfterConflict();
      else setSaveStatus(err.message, "error");
    } finally {
      state.saving = false;
      $("save-button").disabled = false;
    }
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

  // ---------------------------------------------------------------- building the review

  function buildReview() {
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

  function appendItem(item) {
    item.dom = { card: buildCard(item), lane: buildLane(item), segments: [], boxes: [] };
    $("suggestions").append(item.dom.card);
    $("lanes").append(item.dom.lane);
    refreshItem(item);
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function testId(node, id) {
    node.dataset.testid = id;
    return node;
  }

  function buildCard(item) {
    const card = testId(el("li", "suggestion"), "suggestion");
    card.dataset.productId = item.productId;
    card.style.setProperty("--lane", item.colour);

    const main = el("div", "card-main");
    main.addEventListener("click", (event) => {
      if (event.target.closest("a")) return;
      selectItem(state.items.indexOf(item), 0, true);
    });
    main.append(buildThumb(item.productId, "suggestion-thumb"));

    const text = el("div", "card-text");
    text.append(testId(el("div", "card-title", item.title), "suggestion-title"));
    const meta = el("div", "card-meta");
    if (item.suggested) meta.append(testId(el("span", "score", "score " + Number(item.score).toFixed(2)), "suggestion-score"));
    else meta.append(el("span", "badge added", "added by you"));
    if (item.original.some((segment) => segment.uncertain)) {
      const badge = testId(el("span", "badge uncertain", "uncertain"), "suggestion-uncertain");
      badge.title = "The tagger was not sure about at least one segment: check it.";
      meta.append(badge);
    }
    meta.append(testId(el("span", "verdict"), "suggestion-verdict"));
    text.append(meta, testId(el("div", "card-times"), "segment-times"));
    if (item.alternatives.length) {
      const titles = item.alternatives.map((alternative) => alternative.title).join(" · ");
      text.append(testId(el("div", "alternatives", "Could also be: " + titles), "suggestion-alternatives"));
    }
    const link = storefrontLink(item.url);
    if (link) text.append(link);
    main.append(text);
    card.append(main, buildActions(item));
    return card;
  }

  // Only http(s) urls become links: a "javascript:" or "data:" url is not shown at all.
  function storefrontLink(url) {
    if (typeof url !== "string" || !/^https?:\/\//i.test(url)) return null;
    const link = testId(el("a", "store-link", "View in store ↗"), "suggestion-link");
    link.href = url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    return link;
  }

  function buildActions(item) {
    const actions = el("div", "card-actions");
    if (item.suggested) {
      // Buttons toggle (a second click undoes); the A and R keys only set.
      const accept = testId(el("button", "button accept", "Accept"), "accept-button");
      const reject = testId(el("button", "button reject", "Reject"), "reject-button");
      accept.title = "Accept (A)";
      reject.title = "Reject (R)";
      accept.addEventListener("click", () => setVerdict(item, item.verdict === "accepted" ? null : "accepted"));
      reject.addEventListener("click", () => setVerdict(item, item.verdict === "rejected" ? null : "rejected"));
      actions.append(accept, reject);
    } else {
      const remove = testId(el("button", "button reject", "Remove"), "remove-button");
      remove.addEventListener("click", () => removeItem(item));
      actions.append(remove);
    }
    for (const button of actions.children) button.type = "button";
    return actions;
  }

  function buildThumb(productId, imageTestId) {
    const holder = el("div", "thumb");
    holder.append(el("span", "thumb-empty", "no photo"));
    thumbnailUrl(productId).then((url) => {
      if (!url) return;
      const img = testId(el("img"), imageTestId);
      img.alt = "";
      img.src = url;
      holder.replaceChildren(img);
    });
    return holder;
  }

  function thumbnailUrl(productId) {
    if (!thumbnails.has(productId)) {
      const loading = fetchThumbnail(productId);
      thumbnails.set(productId, loading);
    }
    return thumbnails.get(productId);
  }

  async function fetchThumbnail(productId) {
    if (!fetchableById(productId)) return null;
    for (let attempt = 1; ; attempt += 1) {
      try {
        return URL.createObjectURL(await getBlob("/v1/product-images/" + productPath(productId)));
      } catch (err) {
        // 429: the service is busy for a moment; a photo is worth a few tries.
        if (err.status === 429 && attempt < 4) {
          await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
          continue;
        }
        if (err.status === 401 || err.status === 429) thumbnails.delete(productId); // try again later
        return null; // 404: the product has no photo
      }
    }
  }

  function buildLane(item) {
    const lane = testId(el("div", "lane"), "lane");
    lane.dataset.productId = item.productId;
    lane.style.setProperty("--lane", item.colour);
    const label = el("div", "lane-label");
    label.append(el("span", "swatch"), el("span", "lane-title", item.title));
    label.title = item.title;
    label.addEventListener("click", () => selectItem(state.items.indexOf(item), 0, true));
    const track = testId(el("div", "track"), "track");
    // A click on the empty track seeks there.
    track.addEventListener("click", (event) => {
      if (event.target === track) seek(timeAt(event.clientX, track.getBoundingClientRect()));
    });
    lane.append(label, track);
    return lane;
  }

  function buildSegments(item) {
    const track = item.dom.lane.querySelector(".track");
    for (const node of item.dom.segments) node.remove();
    for (const node of item.dom.boxes) node.remove();
    item.dom.segments = item.segments.map((segment, index) => {
      const node = testId(el("div", "segment"), "segment");
      node.dataset.productId = item.productId;
      node.dataset.index = String(index);
      node.classList.toggle("uncertain", Boolean(segment.uncertain));
      const start = testId(el("div", "handle start"), "segment-start-handle");
      const end = testId(el("div", "handle end"), "segment-end-handle");
      bindDrag(start, item, index, "start");
      bindDrag(end, item, index, "end");
      node.append(start, end);
      node.addEventListener("click", (event) => {
        if (event.target !== node) return; // a handle was dragged
        selectItem(state.items.indexOf(item), index, true);
      });
      track.append(node);
      return node;
    });
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

  // Brings an item's card, lane and segments up to date with its state.
  function refreshItem(item) {
    if (!item.dom) return;
    const { card, lane } = item.dom;
    const verdict = item.suggested ? item.verdict || "none" : "added";
    card.dataset.verdict = verdict;
    lane.dataset.verdict = verdict;
    const labels = { none: "not reviewed", accepted: "accepted", rejected: "rejected", added: "" };
    card.querySelector(".verdict").textContent = labels[verdict];
    for (const [name, value] of [["accept-button", "accepted"], ["reject-button", "rejected"]]) {
      const button = card.querySelector('[data-testid="' + name + '"]');
      if (button) button.setAttribute("aria-pressed", String(item.verdict === value));
    }
    if (item.dom.segments.length !== item.segments.length) buildSegments(item);
    positionSegments(item);
  }

  function positionSegments(item) {
    const duration = state.duration || 1;
    item.segments.forEach((segment, index) => {
      const node = item.dom.segments[index];
      node.style.left = (100 * segment.start_s) / duration + "%";
      node.style.width = (100 * (segment.end_s - segment.start_s)) / duration + "%";
      node.title = formatSpan(segment) + (segment.uncertain ? " · uncertain" : "");
      const selected = state.items[state.selected] === item && state.selectedSegment === index;
      node.classList.toggle("selected", selected);
    });
    item.dom.card.querySelector(".card-times").textContent = item.segments.map(formatSpan).join(", ");
  }

  function buildRuler() {
    const ruler = $("ruler");
    ruler.replaceChildren();
    const duration = state.duration;
    const step = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((s) => duration / s <= 12) || 1200;
    for (let t = 0; t <= duration + 1e-9; t += step) {
      const tick = el("span", "tick", formatTick(t));
      tick.style.left = (100 * t) / duration + "%";
      ruler.append(tick);
    }
  }

  function updateCounts() {
    const suggested = state.items.filter((item) => item.suggested).length;
    $("suggestion-count").textContent = String(state.items.length);
    $("no-suggestions").hidden = suggested > 0 || state.items.length > 0;
  }

  // ---------------------------------------------------------------- selection and editing

  function selectItem(index, segmentIndex, seekToIt) {
    state.selected = index;
    const item = state.items[index];
    state.selectedSegment = item && segmentIndex < item.segments.length ? segmentIndex : 0;
    for (const other of state.items) {
      if (!other.dom) continue;
      other.dom.card.classList.toggle("selected", other === item);
      other.dom.lane.classList.toggle("selected", other === item);
      positionSegments(other);
    }
    updateSelectedLabel();
    // Only a selection the user moved brings its card into view (not the one made on load).
    if (!item || !seekToIt) return;
    item.dom.card.scrollIntoView({ block: "nearest" });
    if (item.segments.length) seek(item.segments[state.selectedSegment].start_s);
  }

  function updateSelectedLabel() {
    const item = state.items[state.selected];
    const label = $("selected-label");
    if (!item) {
      label.textContent = "";
      return;
    }
    const part = item.segments.length > 1 ? " · segment " + (state.selectedSegment + 1) + " of " + item.segments.length : "";
    label.textContent = item.title + part;
  }

  function moveSelection(step) {
    if (!state.items.length) return;
    const next = state.selected < 0 ? 0 : (state.selected + step + state.items.length) % state.items.length;
    selectItem(next, 0, true);
  }

  // Sets one edge of a segment, kept inside the video and at least MIN_SEGMENT_S long.
  function setEdge(item, index, edge, time) {
    const segment = item.segments[index];
    const t = roundTime(time);
    if (edge === "start") segment.start_s = clamp(t, 0, segment.end_s - MIN_SEGMENT_S);
    else segment.end_s = clamp(t, segment.start_s + MIN_SEGMENT_S, state.duration);
    segment.start_s = roundTime(segment.start_s);
    segment.end_s = roundTime(segment.end_s);
    keepEdited(item);
    refreshItem(item);
    renderFrame();
    markDirty();
  }

  // "Start here" / "End here": the selected segment's edge at the current time.
  function edgeHere(edge) {
    const item = state.items[state.selected];
    if (!item || !item.segments.length) {
      showNotice("Select a product first (click it in the list or on the timeline).");
      return;
    }
    const segment = item.segments[state.selectedSegment];
    const t = roundTime(video.currentTime);
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

  function bindDrag(handle, item, index, edge) {
    handle.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      event.stopPropagation();
      const track = item.dom.lane.querySelector(".track");
      state.drag = { item, index, edge, rect: track.getBoundingClientRect() };
      handle.setPointerCapture(event.pointerId);
      selectItem(state.items.indexOf(item), index, false);
    });
    handle.addEventListener("pointermove", (event) => {
      const drag = state.drag;
      if (!drag || drag.item !== item || drag.index !== index) return;
      const t = timeAt(event.clientX, drag.rect);
      setEdge(item, index, edge, t);
      seek(item.segments[index][edge === "start" ? "start_s" : "end_s"]); // show the frame at the edge
    });
    const stop = () => {
      state.drag = null;
    };
    handle.addEventListener("pointerup", stop);
    handle.addEventListener("pointercancel", stop);
    handle.addEventListener("click", (event) => event.stopPropagation());
  }

  // ---------------------------------------------------------------- adding a missed product

  async function searchCatalog(event) {
    event.preventDefault();
    const q = $("search-input").value.trim();
    const results = $("search-results");
    if (!q) return;
    results.replaceChildren(el("li", "muted", "Searching…"));
    try {
      const answer = await getJson("/v1/products?q=" + encodeURIComponent(q) + "&limit=20");
      results.replaceChildren();
      if (!answer.products.length) results.append(el("li", "muted", "No product title has every word of “" + q + "”."));
      for (const product of answer.products) results.append(buildResult(product));
    } catch (err) {
      results.replaceChildren(el("li", "field-error", err.message));
    }
  }

  function buildResult(product) {
    const row = testId(el("li", "result"), "add-result");
    row.dataset.productId = product.product_id;
    const text = el("div", "result-text");
    text.append(el("div", "result-title", product.title), el("div", "result-id", product.product_id));
    const present = state.items.some((item) => item.productId === product.product_id);
    const button = testId(el("button", "button", present ? "In the list" : "Add"), "add-result-button");
    button.type = "button";
    button.disabled = present;
    button.addEventListener("click", () => {
      addProduct(product);
      button.textContent = "Added";
      button.disabled = true;
    });
    row.append(buildThumb(product.product_id, "result-thumb"), text, button);
    return row;
  }

  function addProduct(product) {
    if (state.items.some((item) => item.productId === product.product_id)) return;
    const item = addedItem(product, [defaultSegment()]);
    state.items.push(item);
    appendItem(item);
    updateCounts();
    selectItem(state.items.length - 1, 0, false);
    markDirty();
    renderFrame();
  }

  // From now to now + ADDED_SEGMENT_S, moved back where that would pass the end.
  function defaultSegment() {
    const duration = state.duration;
    let start = roundTime(Math.min(video.currentTime || 0, duration));
    let end = Math.min(duration, start + ADDED_SEGMENT_S);
    if (end - start < MIN_SEGMENT_S) {
      start = Math.max(0, duration - ADDED_SEGMENT_S);
      end = duration;
    }
    return { start_s: roundTime(start), end_s: roundTime(end) };
  }

  function removeItem(item) {
    const index = state.items.indexOf(item);
    if (index < 0) return;
    state.items.splice(index, 1);
    item.dom.card.remove();
    item.dom.lane.remove();
    for (const box of item.dom.boxes) box.remove();
    updateCounts();
    selectItem(Math.min(index, state.items.length - 1), 0, false);
    markDirty();
  }

  // ---------------------------------------------------------------- the video and its overlay

  function seek(time) {
    const limit = Number.isFinite(video.duration) ? video.duration : state.duration;
    video.currentTime = clamp(time, 0, limit);
    renderFrame();
  }

  function togglePlay() {
    if (!video.src) return;
    if (video.paused) video.play().catch(() => {});
    else video.pause();
  }

  let framePending = false;
  function renderLoop() {
    if (framePending) return;
    framePending = true;
    requestAnimationFrame(() => {
      framePending = false;
      renderFrame();
      if (!video.paused) renderLoop(); // timeupdate alone comes only ~4 times a second
    });
  }

  function renderFrame() {
    if (!state.result) return;
    const t = video.currentTime || 0;
    $("current-time").textContent = formatTime(t) + " / " + formatTime(state.duration);
    $("playhead").style.left = (100 * clamp(t / (state.duration || 1), 0, 1)) + "%";
    drawBoxes(t);
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

  function bindVideo() {
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

  function stageMessage(text) {
    const message = $("stage-message");
    message.textContent = text;
    message.hidden = !text;
  }

  // ---------------------------------------------------------------- keyboard

  function isTyping(target) {
    return target instanceof HTMLElement &&
      (["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName) || target.isContentEditable);
  }

  const KEY_ACTIONS = {
    " ": togglePlay,
    n: () => moveSelection(1),
    ArrowDown: () => moveSelection(1),
    p: () => moveSelection(-1),
    ArrowUp: () => moveSelection(-1),
    a: () => setVerdict(state.items[state.selected], "accepted"),
    r: () => setVerdict(state.items[state.selected], "rejected"),
    "[": () => edgeHere("start"),
    "]": () => edgeHere("end"),
  };

  function onKeyDown(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    if ($("review").hidden || !$("key-panel").hidden) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const action = KEY_ACTIONS[key];
    if (!action) return;
    event.preventDefault(); // no page scroll, and Space does not also press a focused button
    action();
  }

  // ---------------------------------------------------------------- messages and formatting

  function showError(message) {
    const banner = $("error-banner");
    banner.textContent = message;
    banner.hidden = false;
  }

  function showNotice(message) {
    const banner = $("notice-banner");
    banner.textContent = message;
    banner.hidden = false;
  }

  function clearNotice() {
    $("notice-banner").hidden = true;
  }

  function clearBanners() {
    $("error-banner").hidden = true;
    clearNotice();
  }

  function setSaveStatus(text, kind) {
    const status = $("save-status");
    status.textContent = text;
    status.dataset.kind = kind || "";
  }

  const clamp = (value, low, high) => Math.min(Math.max(value, low), high);
  const roundTime = (t) => Math.round(t * 1000) / 1000;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const formatTime = (t) => t.toFixed(2) + " s";
  const formatSpan = (segment) => segment.start_s.toFixed(2) + "–" + segment.end_s.toFixed(2) + " s";

  function formatTick(t) {
    if (t < 60) return (Number.isInteger(t) ? t : t.toFixed(1)) + "s";
    return Math.floor(t / 60) + ":" + String(Math.round(t % 60)).padStart(2, "0");
  }

  function formatBytes(bytes) {
    if (bytes < 1024 * 1024) return Math.ceil(bytes / 1024) + " KB";
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }

  function timeAt(clientX, rect) {
    return clamp((clientX - rect.left) / rect.width, 0, 1) * state.duration;
  }

  // ---------------------------------------------------------------- start

  async function start() {
    $("key-form").addEventListener("submit", submitKey);
    $("key-forget").addEventListener("click", () => {
      forgetKey();
      showKeyPanel("");
    });
    $("save-button").addEventListener("click", save);
    $("new-video").addEventListener("click", newVideo);
    $("start-here").addEventListener("click", () => edgeHere("start"));
    $("end-here").addEventListener("click", () => edgeHere("end"));
    $("search-form").addEventListener("submit", searchCatalog);
    document.addEventListener("keydown", onKeyDown);
    window.addEventListener("hashchange", () => {
      if (!state.me || location.hash === state.shownHash) return;
      // The same rule as New video: leaving unsaved changes takes a second try.
      if (state.dirty && !state.discardArmed) {
        state.discardArmed = true;
        history.replaceState(null, "", location.pathname + location.search + state.shownHash);
        showNotice("You have unsaved changes. Save them, or go to the other address again to discard them.");
        return;
      }
      state.dirty = false;
      route();
    });
    window.addEventListener("beforeunload", (event) => {
      if (state.dirty) event.preventDefault(); // unsaved decisions: let the browser ask
    });
    bindDropZone();
    bindVideo();
    if (await checkAccess()) route();
  }

  start();
})();
