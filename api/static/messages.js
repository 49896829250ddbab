// What the page tells the user outside the review itself: the error and notice banners, and
// the save status in the top bar.

import { $ } from "./dom.js";

export function showError(message) {
  const banner = $("error-banner");
  banner.textContent = message;
  banner.hidden = false;
}

export function showNotice(message) {
  const banner = $("notice-banner");
  banner.textContent = message;
  banner.hidden = false;
}

export function clearNotice() {
  $("notice-banner").hidden = true;
}

export function clearBanners() {
  $("error-banner").hidden = true;
  clearNotice();
}

export function setSaveStatus(text, kind) {
  const status = $("save-status");
  status.textContent = text;
  status.dataset.kind = kind || "";
}
