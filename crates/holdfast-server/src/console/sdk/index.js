/**
 * `@holdfast/browser`: the browser SDK of Holdfast. See README.md.
 *
 * @module
 */
export { HoldfastClient, STEP_UP_POPUP_NAME, } from "./client.js";
export { EmailVerificationRequiredError, HoldfastError, LoginRequiredError, StepUpRequiredError, TransientError } from "./errors.js";
export { createProof, generateDpopKey, htuOf, jwkThumbprint } from "./dpop.js";
export { CrossTabLock } from "./lock.js";
export { DATABASE_NAME, DATABASE_VERSION, MemoryStorage } from "./storage.js";
export { parseWwwAuthenticate, relevantChallenge } from "./www-authenticate.js";
