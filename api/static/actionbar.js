// The bar of main actions at the bottom of a narrow screen (a phone): play, accept or reject
// the selected suggestion, go to the next one, save. Hidden by CSS on wide screens, where the
// same actions sit by the video, on the cards and in the top bar. What the buttons do comes in
// as actions (see review.js), so that this module shows the review without changing it.

import { $ } from "./dom.js";

// actions: { togglePlay(), setVerdict(item, verdict), next(), save(), selected() -> item }.
export function bindActionBar(actions) {
  $("bar-play").addEventListener("click", actions.togglePlay);
  $("bar-next").addEventListener("click", actions.next);
  $("bar-save").addEventListener("click", actions.save);
  for (const [id, verdict] of [["bar-accept", "accepted"], ["bar-reject", "rejected"]]) {
    $(id).addEventListener("click", () => {
      const item = actions.selected();
      if (item) actions.setVerdict(item, item.verdict === verdict ? null : verdict);
    });
  }
}

// Shows what the verdict buttons act on: the selected item (none, or an added one: disabled).
export function showActionBar(item) {
  const usable = Boolean(item && item.suggested);
  for (const [id, word, verdict] of [["bar-accept", "Accept", "accepted"], ["bar-reject", "Reject", "rejected"]]) {
    const button = $(id);
    button.disabled = !usable;
    button.setAttribute("aria-pressed", String(usable && item.verdict === verdict));
    button.setAttribute("aria-label", usable ? word + " " + item.title : word + " (select a suggestion first)");
  }
}
