// The review's items, one per product on the timeline: the tagger's suggestions, with the
// creator's verdicts and adjusted segments, then the products the creator added. Made from a
// job's result and its saved review, and turned back into decisions to save.
//
// An item: { productId, catalog, title, url, score, alternatives, suggested, original (the suggested
// segments), verdict (null, "accepted", "rejected" or "added"), segments, colour, dom (its
// card, lane, segment and box elements, once drawn: see render.js) }.

import { fetchableById, getJson, productPath, sameProduct } from "./api.js";
import { state } from "./state.js";
import { clamp } from "./time.js";

const LANE_COLOURS = ["#4f9dff", "#ff8a5b", "#3fd08f", "#c58cff", "#ffc857", "#ff5f8f", "#33d1d6", "#a7d95a"];

let coloursUsed = 0;

function suggestionItem(tag) {
  return {
    productId: tag.product_id,
    catalog: tag.catalog || null,
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

export function addedItem(product, segments) {
  return {
    productId: product.product_id,
    catalog: product.catalog || null,
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
  return LANE_COLOURS[coloursUsed++ % LANE_COLOURS.length];
}

// Puts a saved review on the suggestions: verdicts, adjusted segments, added products.
export async function applyReview(review) {
  coloursUsed = 0;
  state.revision = review.revision;
  state.items = state.result.tags.map(suggestionItem);
  const added = [];
  for (const decision of review.decisions) {
    const item = state.items.find((candidate) => sameProduct(candidate, decision));
    if (item && decision.verdict !== "added") {
      item.verdict = decision.verdict;
      if (decision.verdict === "accepted") item.segments = decision.segments.map((s) => withBox(s, item.original));
    } else if (decision.verdict === "added") {
      added.push(decision);
    }
    // (the service stores accepted and rejected decisions for suggestions only)
  }
  const products = await Promise.all(added.map((decision) => lookUpProduct(decision.product_id, decision.catalog)));
  added.forEach((decision, i) => {
    state.items.push(addedItem(products[i], decision.segments.map(savedSegment)));
  });
  // The selection indexes the items, so it starts over with them: on the first one.
  state.selected = state.items.length ? 0 : -1;
  state.selectedSegment = 0;
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
  return { ...(best || {}), ...savedSegment(saved) };
}

// A saved segment: its times, and the box the creator placed in it, if any.
function savedSegment(saved) {
  const segment = { start_s: saved.start_s, end_s: saved.end_s };
  if (saved.box) segment.box = { ...saved.box };
  return segment;
}

// A segment as a decision holds it: the placed box, if any, at a time inside the segment (its
// edges may have moved since the box was placed).
function decidedSegment(segment) {
  const out = { start_s: segment.start_s, end_s: segment.end_s };
  if (segment.box) out.box = { ...segment.box, time_s: clamp(segment.box.time_s, segment.start_s, segment.end_s) };
  return out;
}

async function lookUpProduct(productId, catalog) {
  if (fetchableById(productId)) {
    try {
      return { ...(await getJson(productPath("products", productId, catalog))).product, catalog };
    } catch (err) {
      // removed from the catalog since: still show the decision, under its id
    }
  }
  return { product_id: productId, catalog, title: productId, url: null };
}

// The items as the decisions PUT /v1/jobs/{id}/review takes (a suggestion not yet reviewed has none).
export function toDecisions() {
  const out = [];
  for (const item of state.items) {
    const segments = item.segments.map(decidedSegment);
    const product = item.catalog ? { product_id: item.productId, catalog: item.catalog } : { product_id: item.productId };
    if (!item.suggested) out.push({ ...product, verdict: "added", segments });
    else if (item.verdict === "accepted") out.push({ ...product, verdict: "accepted", segments });
    else if (item.verdict === "rejected") out.push({ ...product, verdict: "rejected", segments: [] });
  }
  return out;
}
