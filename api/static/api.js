// Talking to the service: requests with the API key, its errors, and the paths it serves.
// The key lives here, and in sessionStorage only, so that it is gone when the tab closes.

const KEY_STORAGE = "shoptag.apiKey";

let key = sessionStorage.getItem(KEY_STORAGE) || "";
// What a 401 does (ask for a key): set by the key panel, so that this module shows nothing.
let unauthorizedHandler = () => {};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const hasKey = () => Boolean(key);

export function useKey(newKey) {
  key = newKey;
  sessionStorage.setItem(KEY_STORAGE, newKey);
}

export function forgetStoredKey() {
  key = "";
  sessionStorage.removeItem(KEY_STORAGE);
}

export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

export function authHeaders() {
  return key ? { Authorization: "Bearer " + key } : {};
}

async function request(method, path, json) {
  const headers = authHeaders();
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, credentials: "omit", cache: "no-store" });
  } catch (err) {
    throw new ApiError(0, "network", "The service could not be reached.");
  }
  if (!response.ok) {
    throw await errorOf(response.status, () => response.json());
  }
  return response;
}

// Every non-2xx answer is {"error": {"code", "message"}}: the message is what the user sees.
export async function errorOf(status, readBody) {
  let code = "http_" + status;
  let message = "The service answered " + status + ".";
  try {
    const body = await readBody();
    if (body && body.error) {
      code = String(body.error.code || code);
      message = String(body.error.message || message);
    }
  } catch (err) {
    // not JSON: keep the generic message
  }
  const error = new ApiError(status, code, message);
  if (status === 401) unauthorizedHandler(error);
  return error;
}

export const getJson = async (path) => (await request("GET", path)).json();
export const putJson = async (path, json) => (await request("PUT", path, json)).json();
export const getBlob = async (path) => (await request("GET", path)).blob();

// Product ids may hold "/" and anything else: encode each part, keep the slashes. A product of a
// named catalog is reached under it; one of a tag stored before tags named catalogs, without.
export function productPath(collection, productId, catalog) {
  const base = catalog ? "/v1/catalogs/" + encodeURIComponent(catalog) + "/" : "/v1/";
  return base + collection + "/" + productId.split("/").map(encodeURIComponent).join("/");
}

// Product ids repeat across catalogs: a product is its id in its catalog.
export function sameProduct(item, product) {
  return item.productId === product.product_id && (item.catalog || null) === (product.catalog || null);
}

// A "." or ".." part would be resolved away by the browser's URL parser (even encoded),
// so the request would name another path: such ids are not fetched by path at all.
export function fetchableById(productId) {
  return !productId.split("/").some((part) => /^(\.|%2e){1,2}$/i.test(part));
}

export const jobPath = (jobId) => "/v1/jobs/" + encodeURIComponent(jobId);
