/**
 * `@holdfast/browser`: the browser SDK of Holdfast. See README.md.
 *
 * @module
 */

export {
  HoldfastClient,
  STEP_UP_POPUP_NAME,
  type AuthFetchOptions,
  type DeviceSession,
  type Endpoints,
  type HoldfastClientOptions,
  type IdTokenClaims,
  type RedirectSignInOptions,
  type RetryPolicy,
  type SessionInfo,
  type SignInOptions,
  type SignOutOptions,
  type SignOutReason,
  type SignUpResult,
  type StepUpMode,
} from "./client.js";
export { EmailVerificationRequiredError, HoldfastError, LoginRequiredError, StepUpRequiredError, TransientError } from "./errors.js";
export { createProof, generateDpopKey, htuOf, jwkThumbprint, type DpopKeyPair, type ProofInput, type PublicEcJwk } from "./dpop.js";
export { CrossTabLock, type LockMechanism } from "./lock.js";
export { DATABASE_NAME, DATABASE_VERSION, MemoryStorage, type Storage, type StoredSession } from "./storage.js";
export { parseWwwAuthenticate, relevantChallenge, type Challenge } from "./www-authenticate.js";
