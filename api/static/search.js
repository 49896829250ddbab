// Adding a product the tagger missed: search the catalog by title, and add a result to the
// review. Adding is the action passed in (review.js: decisions.js gives the product a segment
// at the current time), so that this module shows results without changing the review.

import { getJson, sameProduct } from "./api.js";
import { $, el, testId } from "./dom.js";
import { state } from "./state.js";
import { buildThumb } from "./thumbnails.js";

export function bindSearch(onAdd) {
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    searchCatalog(onAdd);
  });
}

async function searchCatalog(onAdd) {
  const q = $("search-input").value.trim();
  const results = $("search-results");
  if (!q) return;
  results.replaceChildren(el("li", "muted", "Searching…"));
  try {
    // The catalogs the job searched (a job from before catalogs were named: the key's one).
    const catalogs = state.catalogs ? "&catalogs=" + state.catalogs.map(encodeURIComponent).join(",") : "";
    const answer = await getJson("/v1/products?q=" + encodeURIComponent(q) + "&limit=20" + catalogs);
    results.replaceChildren();
    if (!answer.products.length) results.append(el("li", "muted", "No product title has every word of “" + q + "”."));
    for (const product of answer.products) results.append(buildResult(product, onAdd));
  } catch (err) {
    results.replaceChildren(el("li", "field-error", err.message));
  }
}

function buildResult(product, onAdd) {
  const row = testId(el("li", "result"), "add-result");
  row.dataset.productId = product.product_id;
  row.dataset.catalog = product.catalog;
  const text = el("div", "result-text");
  const shown = state.catalogs && state.catalogs.length > 1 ? product.catalog + " · " + product.product_id : product.product_id;
  text.append(el("div", "result-title", product.title), el("div", "result-id", shown));
  const present = state.items.some((item) => sameProduct(item, product));
  const button = testId(el("button", "button", present ? "In the list" : "Add"), "add-result-button");
  button.type = "button";
  button.disabled = present;
  button.addEventListener("click", () => {
    onAdd(product);
    button.textContent = "Added";
    button.disabled = true;
  });
  row.append(buildThumb(product.product_id, product.catalog, "result-thumb"), text, button);
  return row;
}
