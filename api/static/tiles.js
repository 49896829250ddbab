// The product sheet's grid: one tile per product, its photo and title, a button as a whole.
// A product already in the review is marked "In the list". What a tap does comes in as
// actions (see sheet.js), so that this module shows products without changing the review.

import { sameProduct } from "./api.js";
import { el, testId } from "./dom.js";
import { state } from "./state.js";
import { buildThumb } from "./thumbnails.js";

// actions: { add(product), select(item) }: a tap adds a new product, or selects one in the list.
export function buildTile(product, actions) {
  const tile = testId(el("li", "tile"), "add-result");
  tile.dataset.productId = product.product_id;
  if (product.catalog) tile.dataset.catalog = product.catalog;
  const item = state.items.find((candidate) => sameProduct(candidate, product));
  const button = testId(el("button", "tile-button"), "add-result-button");
  button.type = "button";
  button.append(buildThumb(product.product_id, product.catalog, "sheet-thumb"), el("span", "tile-title", product.title));
  // Product ids repeat across catalogs: with several, the tile says which one.
  if (state.catalogs && state.catalogs.length > 1) button.append(el("span", "result-id", product.catalog + " · " + product.product_id));
  if (item) {
    tile.dataset.present = "true";
    button.append(testId(el("span", "badge present", "In the list"), "tile-present"));
  }
  button.addEventListener("click", () => (item ? actions.select(item) : actions.add(product)));
  tile.append(button);
  return tile;
}
