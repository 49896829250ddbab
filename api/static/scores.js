// A suggestion's score in words. The tagger's score is 0.5 at the product's bar and nearer 1
// the stronger the match; people read a word, with the number on hover and for screen readers.
// The bands, in one place: a suggestion the tagger was unsure of (an uncertain segment) is
// "Check this" whatever its score.

export const SCORE_BANDS = [
  { min: 0.75, word: "Likely", level: "high" },
  { min: 0.6, word: "Possible", level: "medium" },
  { min: -Infinity, word: "Check this", level: "low" },
];

export function scoreInWords(score, uncertain) {
  const band = uncertain ? SCORE_BANDS[SCORE_BANDS.length - 1] : SCORE_BANDS.find((b) => Number(score) >= b.min);
  const number = Number(score).toFixed(2);
  return {
    word: band.word,
    level: band.level,
    number,
    detail: "Score " + number + " (0.5 is the product's bar, 1 the strongest match)" + (uncertain ? "; the tagger was unsure of a segment" : ""),
  };
}
