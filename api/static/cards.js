// The suggestion list in the sidebar: one card per item, with its photo, title, score and
// badges, its segments' times, a link to the store, and its Accept / Reject (or Remove) buttons.
// What the buttons and a click do comes in as actions (see render.js), so that this module
// shows the review without changing it.

import { $, el, testId } from "./dom.js";
import { scoreInWords } from "./scores.js";
import { buildThumb } from "./thumbnails.js";
import { formatSpan } from "./time.js";

const VERDICT_LABELS = { none: "not reviewed", accepted: "accepted", rejected: "rejected", added: "" };

// actions: { select(item, segmentIndex, seekToIt), setVerdict(item, verdict), remove(item) }.
export function buildCard(item, actions) {
  const card = testId(el("li", "suggestion"), "suggestion");
  card.dataset.productId = item.productId;
  if (item.catalog) card.dataset.catalog = item.catalog;
  card.style.setProperty("--lane", item.colour);

  const main = el("div", "card-main");
  main.addEventListener("click", (event) => {
    if (event.target.closest("a")) return;
    actions.select(item, 0, true);
  });
  main.append(buildThumb(item.productId, item.catalog, "suggestion-thumb"));

  const text = el("div", "card-text");
  // The title is the card's button: Tab reaches it, Enter selects the product.
  const title = testId(el("button", "card-title", item.title), "suggestion-title");
  title.type = "button";
  text.append(title);
  const meta = el("div", "card-meta");
  const uncertain = item.original.some((segment) => segment.uncertain);
  if (item.suggested) meta.append(buildScore(item.score, uncertain));
  else meta.append(el("span", "badge added", "added by you"));
  if (uncertain) {
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
  card.append(main, buildActions(item, actions));
  return card;
}

// Shows the item's verdict ("none", "accepted", "rejected" or "added"), whether it is selected,
// and its segments' times on its card.
export function showCard(item, verdict, selected) {
  const card = item.dom.card;
  card.dataset.verdict = verdict;
  card.classList.toggle("selected", selected);
  card.querySelector(".verdict").textContent = VERDICT_LABELS[verdict];
  for (const [name, value] of [["accept-button", "accepted"], ["reject-button", "rejected"]]) {
    const button = card.querySelector('[data-testid="' + name + '"]');
    if (button) button.setAttribute("aria-pressed", String(item.verdict === value));
  }
  card.querySelector(".card-times").textContent = item.segments.map(formatSpan).join(", ");
}

export function showCounts(items) {
  const suggested = items.filter((item) => item.suggested).length;
  $("suggestion-count").textContent = String(items.length);
  $("no-suggestions").hidden = suggested > 0 || items.length > 0;
}

// The score as a word ("Likely"), the number on hover (title) and read out after the word.
function buildScore(score, uncertain) {
  const words = scoreInWords(score, uncertain);
  const node = testId(el("span", "score " + words.level, words.word), "suggestion-score");
  node.dataset.score = words.number;
  node.title = words.detail;
  node.append(el("span", "visually-hidden", " (score " + words.number + ")"));
  return node;
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

function buildActions(item, actions) {
  const buttons = el("div", "card-actions");
  if (item.suggested) {
    // Buttons toggle (a second click undoes); the A and R keys only set.
    const accept = testId(el("button", "button accept", "Accept"), "accept-button");
    const reject = testId(el("button", "button reject", "Reject"), "reject-button");
    accept.title = "Accept (A)";
    reject.title = "Reject (R)";
    accept.setAttribute("aria-label", "Accept " + item.title);
    reject.setAttribute("aria-label", "Reject " + item.title);
    accept.addEventListener("click", () => actions.setVerdict(item, item.verdict === "accepted" ? null : "accepted"));
    reject.addEventListener("click", () => actions.setVerdict(item, item.verdict === "rejected" ? null : "rejected"));
    buttons.append(accept, reject);
  } else {
    const remove = testId(el("button", "button reject", "Remove"), "remove-button");
    remove.setAttribute("aria-label", "Remove " + item.title);
    remove.addEventListener("click", () => actions.remove(item));
    buttons.append(remove);
  }
  for (const button of buttons.children) button.type = "button";
  return buttons;
}
