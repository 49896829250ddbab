// The product sheet: adding a product the tagger missed. A dialog (a bottom sheet on a phone,
// a panel on a wide screen) with a grid of the catalog's products that look most like the
// current frame (GET /v1/jobs/{id}/nearest-products), and a title search above it: typing
// replaces the grid with the products whose title words start with the typed words, an empty
// search shows the nearest again. Focus goes into the sheet and back to what opened it; Escape
// closes it. What a tap does comes in as actions (review.js), so that this module changes nothing.

import { getJson, jobPath } from "./api.js";
import { $ } from "./dom.js";
import { plainMessage } from "./plain.js";
import { state } from "./state.js";
import { buildTile } from "./tiles.js";
import { isTouch } from "./touch.js";

const NEAREST_LIMIT = 24;
const SEARCH_LIMIT = 24;
const TYPING_PAUSE_MS = 250; // a search waits for a pause in typing

let actions = null;
let opener = null; // the element that had focus when the sheet opened: focus goes back to it
let shown = 0; // bumped for each grid asked for, so that a late answer does not replace a newer one
let typing = null;

// actions: { add(product), select(item), time() -> the current time }.
export function bindSheet(sheetActions) {
  actions = sheetActions;
  const sheet = $("product-sheet");
  const input = $("search-input");
  $("sheet-close").addEventListener("click", closeSheet);
  sheet.addEventListener("close", () => {
    clearTimeout(typing);
    shown += 1;
    if (opener && opener.isConnected) opener.focus({ preventScroll: true });
    opener = null;
  });
  // A click on the backdrop (outside the sheet's box) closes it, as on a phone's sheets.
  sheet.addEventListener("click", (event) => {
    const box = sheet.getBoundingClientRect();
    const outside = event.clientX < box.left || event.clientX > box.right || event.clientY < box.top || event.clientY > box.bottom;
    if (event.target === sheet && outside) closeSheet();
  });
  input.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(showQuery, TYPING_PAUSE_MS);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    clearTimeout(typing);
    showQuery();
  });
}

export function openSheet() {
  const sheet = $("product-sheet");
  if (sheet.open || !state.result) return;
  opener = document.activeElement;
  $("search-input").value = "";
  sheet.showModal();
  // On a touch screen the keyboard would cover the grid: focus the title, not the search box.
  (isTouch() ? $("sheet-title") : $("search-input")).focus();
  showQuery();
}

export function closeSheet() {
  if ($("product-sheet").open) $("product-sheet").close();
}

function showQuery() {
  const q = $("search-input").value.trim();
  const time = actions.time();
  if (!q) {
    const path = jobPath(state.jobId) + "/nearest-products?time_s=" + time.toFixed(2) + "&limit=" + NEAREST_LIMIT;
    return showGrid(path, "Looking at the frame…", "Products like what is on screen at " + time.toFixed(2) + " s:",
      "No catalog product looks like this frame.");
  }
  // The catalogs the job searched (a job from before catalogs were named: the key's one).
  const catalogs = state.catalogs ? "&catalogs=" + state.catalogs.map(encodeURIComponent).join(",") : "";
  const path = "/v1/products?q=" + encodeURIComponent(q) + "&limit=" + SEARCH_LIMIT + catalogs;
  return showGrid(path, "Searching…", "Titles with words starting “" + q + "”:",
    "No product title has words starting “" + q + "”.");
}

async function showGrid(path, waiting, heading, nothing) {
  const token = ++shown;
  const note = $("sheet-note");
  const grid = $("product-grid");
  note.textContent = waiting;
  note.classList.remove("field-error");
  try {
    const answer = await getJson(path);
    if (token !== shown) return;
    note.textContent = answer.products.length ? heading : nothing;
    grid.replaceChildren(...answer.products.map((product) => buildTile(product, tileActions())));
  } catch (err) {
    if (token !== shown) return;
    note.textContent = plainMessage(err);
    note.classList.add("field-error");
    grid.replaceChildren();
  }
}

// A tap closes the sheet first: adding goes on to placing the box on the frame.
function tileActions() {
  return {
    add: (product) => {
      closeSheet();
      actions.add(product);
    },
    select: (item) => {
      closeSheet();
      actions.select(item);
    },
  };
}
