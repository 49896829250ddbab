// Where a segment's box is at a time: its track ([time_s, x, y, w, h] at each sampled frame
// where the product was seen) interpolated linearly between the two rows around the time,
// the nearest row held before the first and after the last. A segment without a track (a
// result stored before tracks existed) has its one bbox throughout, and one the creator placed
// a box on (an added product: see placing.js) has that box.

export function boxAt(segment, t) {
  const track = segment.track;
  if (!Array.isArray(track) || !track.length) return segment.bbox || placedBox(segment);
  if (t <= track[0][0]) return track[0].slice(1);
  const last = track[track.length - 1];
  if (t >= last[0]) return last.slice(1);
  let high = 1;
  while (track[high][0] < t) high += 1; // rows are by time: the first at or after t
  const before = track[high - 1];
  const after = track[high];
  const span = after[0] - before[0];
  const f = span > 0 ? (t - before[0]) / span : 0;
  return [1, 2, 3, 4].map((i) => before[i] + (after[i] - before[i]) * f);
}

// Whether the segment has a box to draw at all.
export const hasBox = (segment) =>
  Boolean((Array.isArray(segment.track) && segment.track.length) || segment.bbox || segment.box);

function placedBox(segment) {
  const box = segment.box;
  return box ? [box.x, box.y, box.w, box.h] : null;
}
