// Words for the pointer in hand: "tap" on a touch screen (a coarse pointer), "click" with a
// mouse. The page's own text switches by CSS (.touch-only / .mouse-only); messages made in
// script ask here.

const coarse = matchMedia("(pointer: coarse)");

export const isTouch = () => coarse.matches;
export const clickWord = () => (isTouch() ? "tap" : "click");
