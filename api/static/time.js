// Times on the video, in seconds: kept in range, rounded, and written for people.

export const clamp = (value, low, high) => Math.min(Math.max(value, low), high);
export const roundTime = (t) => Math.round(t * 1000) / 1000;
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const formatTime = (t) => t.toFixed(2) + " s";
export const formatSpan = (segment) => segment.start_s.toFixed(2) + "–" + segment.end_s.toFixed(2) + " s";

// A label on the timeline's ruler: "1.5s", "12s", "2:05".
export function formatTick(t) {
  if (t < 60) return (Number.isInteger(t) ? t : t.toFixed(1)) + "s";
  return Math.floor(t / 60) + ":" + String(Math.round(t % 60)).padStart(2, "0");
}
