// Trying again when the service cannot be reached: a request that failed for the network or
// the service (no answer, 429 busy or a 5xx) is retried after 1, 2, 4, ... seconds, at most
// RETRY_MAX_S apart, for as long as the caller still wants it. Any other error (a 4xx says what
// was wrong with the request) is thrown at once.

import { sleep } from "./time.js";

export const RETRY_FIRST_S = 1;
export const RETRY_MAX_S = 30;

export const isTransient = (err) => err.status === 0 || err.status === 429 || err.status >= 500;

// request(): the promise to retry. onRetry(seconds, err): told before each wait. stillWanted():
// false once the user has gone elsewhere; the last error is then thrown.
export async function withRetry(request, onRetry, stillWanted = () => true) {
  for (let wait = RETRY_FIRST_S; ; wait = Math.min(wait * 2, RETRY_MAX_S)) {
    try {
      return await request();
    } catch (err) {
      if (!isTransient(err) || !stillWanted()) throw err;
      onRetry(wait, err);
      await sleep(wait * 1000);
      if (!stillWanted()) throw err;
    }
  }
}
