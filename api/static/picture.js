// Where the video's picture is on the screen. The video is letterboxed inside its element
// (object-fit: contain): the result's pixels are scaled to the displayed picture and offset by
// the bars. Boxes are drawn from video pixels to the screen (player.js), and a box placed by
// hand goes back from the screen to video pixels (placing.js).

import { $ } from "./dom.js";
import { state } from "./state.js";
import { clamp } from "./time.js";

// The picture in the stage's coordinates: its top-left corner, and screen px per video px.
export function pictureRect() {
  const video = $("video");
  const width = video.clientWidth;
  const height = video.clientHeight;
  const naturalW = video.videoWidth || state.result.width;
  const naturalH = video.videoHeight || state.result.height;
  const scale = Math.min(width / naturalW, height / naturalH);
  const shownW = naturalW * scale;
  const shownH = naturalH * scale;
  return {
    left: video.offsetLeft + (width - shownW) / 2,
    top: video.offsetTop + (height - shownH) / 2,
    x: shownW / state.result.width,
    y: shownH / state.result.height,
  };
}

// A point on the screen (clientX, clientY) in video pixels, kept inside the frame.
export function toVideoPixels(clientX, clientY) {
  const stage = $("stage").getBoundingClientRect();
  const rect = pictureRect();
  return {
    x: clamp((clientX - stage.left - rect.left) / rect.x, 0, state.result.width),
    y: clamp((clientY - stage.top - rect.top) / rect.y, 0, state.result.height),
  };
}
