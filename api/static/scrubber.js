// Moving through the video on the timeline: the playhead's knob and the ruler are dragged (or
// clicked) to seek, and the knob is a slider for the keyboard too. What seeking does comes in
// as a callback (player.js), so that this module only reads the pointer.

import { $ } from "./dom.js";
import { timeAt } from "./timeline.js";

// seek(time): go to a time; step(direction): one frame back (-1) or on (1).
export function bindScrubber(seek, step) {
  const knob = $("playhead-knob");
  const ruler = $("ruler");
  let dragging = null; // the pointer id of a drag in progress
  const seekTo = (event) => seek(timeAt(event.clientX, ruler.getBoundingClientRect()));
  for (const handle of [knob, ruler]) {
    handle.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      dragging = event.pointerId;
      handle.setPointerCapture(event.pointerId);
      knob.focus({ preventScroll: true });
      seekTo(event);
    });
    handle.addEventListener("pointermove", (event) => {
      if (dragging === event.pointerId) seekTo(event);
    });
    const stop = () => {
      dragging = null;
    };
    handle.addEventListener("pointerup", stop);
    handle.addEventListener("pointercancel", stop);
  }
  knob.addEventListener("keydown", (event) => {
    const direction = { ArrowLeft: -1, ArrowRight: 1 }[event.key];
    if (!direction) return;
    event.preventDefault();
    event.stopPropagation();
    step(direction);
  });
}
