// The suggestion list in the sidebar: one card per item, with its photo, title, score and
// badges, its segments' times, a link to the store, and its Accept / Reject (or Remove) buttons.

import { removeItem, setVerdict } from "./decisions.js";
import { $, el, testId } from "./dom.js";
import { selectItem } from "./selection.js";
import { state } from "./state.js";
import { buildThumb } from "./thumbnails.js";

const VERDICT_LABELS = { none: "not reviewed", accepted: "accepted", rejected: "rejected", added: "" };

export function buildCard(item) {
  const card = testId(el("li", "suggestion"), "suggestion");
  card.dataset.productId = item.productId;
  if (item.catalog) card.dataset.catalog = item.catalog;
  card.style.setProperty("--lane", item.colour);

  const main = el("div", "card-main");
  main.addEventListener("click", (event) => {
    if (event.target.closest("a")) return;
    selectItem(state.items.indexOf(item), 0, true);
  });
  main.append(buildThumb(item.productId, item.catalog, "suggestion-thumb"));

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

// Shows the item's verdict ("none", "accepted", "rejected" or "added") on its card.
export function showCardVerdict(item, verdict) {
  const card = item.dom.card;
  card.dataset.verdict = verdict;
  card.querySelector(".verdict").textContent = VERDICT_LABELS[verdict];
  for (const [name, value] of [["accept-button", "accepted"], ["reject-button", "rejected"]]) {
    const button = card.querySelector('[data-testid="' + name + '"]');
    if (button) button.setAttribute("aria-pressed", String(item.verdict === value));
  }
}

export function updateCounts() {
  const suggested = state.items.filter((item) => item.suggested).length;
  $("suggestion-count").textContent = String(state.items.length);
  $("no-suggestions").hidden = suggested > 0 || state.items.length > 0;
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
