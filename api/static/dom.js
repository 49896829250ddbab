// Finding and making the page's elements.
//
// Security: every product field (id, title, url, alternatives) comes from a catalog that
// anyone with a merchant key can write. It only ever reaches the page through textContent
// (as el() sets it) and createElement, never through innerHTML.

export const $ = (id) => document.getElementById(id);

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function testId(node, id) {
  node.dataset.testid = id;
  return node;
}
