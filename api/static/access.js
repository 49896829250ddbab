// Who the page talks as: GET /v1/me says whether the service needs an API key, and the key
// panel asks for one whenever the service answers 401.

import { forgetStoredKey, getJson, hasKey, onUnauthorized, useKey } from "./api.js";
import { $ } from "./dom.js";
import { showError } from "./messages.js";

let me = null; // GET /v1/me once access works

export const signedIn = () => me !== null;

// onSignedIn runs once a key typed into the panel is accepted.
export function bindKeyPanel(onSignedIn) {
  onUnauthorized(askForKey);
  $("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = $("key-input").value.trim();
    if (!key) return;
    useKey(key);
    if (await checkAccess()) onSignedIn();
  });
  $("key-forget").addEventListener("click", () => {
    forgetKey();
    showKeyPanel("");
  });
}

export async function checkAccess() {
  try {
    me = await getJson("/v1/me");
  } catch (err) {
    me = null;
    if (err.status !== 401) showError(err.message); // 401: askForKey asked for a key
    return false;
  }
  $("key-panel").hidden = true;
  $("key-role").textContent = me.keys_required ? "Signed in with a " + me.role + " key" : "Local mode";
  $("key-forget").hidden = !me.keys_required;
  return true;
}

function askForKey(error) {
  const refused = hasKey();
  forgetKey();
  showKeyPanel(refused ? "That key was refused: " + error.message : "");
}

function forgetKey() {
  forgetStoredKey();
  me = null;
  $("key-forget").hidden = true;
  $("key-role").textContent = "";
}

function showKeyPanel(message) {
  $("key-error").textContent = message;
  $("key-panel").hidden = false;
  $("key-input").value = "";
  $("key-input").focus();
}
