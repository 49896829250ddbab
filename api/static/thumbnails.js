// Product photos, for the suggestion cards and the product sheet: fetched once per product
// (with the API key, so not as a plain <img src>) and shown from a blob: URL.

import { fetchableById, getBlob, productPath } from "./api.js";
import { el, testId } from "./dom.js";
import { sleep } from "./time.js";

const thumbnails = new Map(); // catalog + "\n" + product_id -> Promise of an object URL (or null)

// A holder that says "no photo" until the photo, if the product has one, arrives.
export function buildThumb(productId, catalog, imageTestId) {
  const holder = el("div", "thumb");
  holder.append(el("span", "thumb-empty", "no photo"));
  thumbnailUrl(productId, catalog).then((url) => {
    if (!url) return;
    const img = testId(el("img"), imageTestId);
    img.alt = "";
    img.src = url;
    holder.replaceChildren(img);
  });
  return holder;
}

function thumbnailUrl(productId, catalog) {
  const key = (catalog || "") + "\n" + productId;
  if (!thumbnails.has(key)) thumbnails.set(key, fetchThumbnail(key, productId, catalog));
  return thumbnails.get(key);
}

async function fetchThumbnail(key, productId, catalog) {
  if (!fetchableById(productId)) return null;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return URL.createObjectURL(await getBlob(productPath("product-images", productId, catalog)));
    } catch (err) {
      // 429: the service is busy for a moment; a photo is worth a few tries.
      if (err.status === 429 && attempt < 4) {
        await sleep(1000 * attempt);
        continue;
      }
      if (err.status === 401 || err.status === 429) thumbnails.delete(key); // try again later
      return null; // 404: the product has no photo
    }
  }
}
