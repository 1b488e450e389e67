/**
 * The Holdfast browser client: sign-in (hosted page with PKCE, or the
 * first-party challenge endpoint), DPoP-bound tokens, `authFetch`, refresh
 * that is single-flight across tabs and safe against lost responses, the
 * user's sessions, and sign-out (of the app's session and, by RP-initiated
 * logout, of the hosted single sign-on session).
 *
 * Specifications: OAuth 2.1 / [RFC 6749](https://www.rfc-editor.org/rfc/rfc6749),
 * PKCE [RFC 7636](https://www.rfc-editor.org/rfc/rfc7636) (S256 only),
 * DPoP [RFC 9449](https://www.rfc-editor.org/rfc/rfc9449) (§4 proofs, §7
 * resource access with `ath`, §8 and §9 nonces, §10 `dpop_jkt`),
 * [RFC 9207](https://www.rfc-editor.org/rfc/rfc9207) (`iss` in the
 * authorization response), revocation [RFC 7009](https://www.rfc-editor.org/rfc/rfc7009),
 * step-up [RFC 9470](https://www.rfc-editor.org/rfc/rfc9470),
 * [OpenID Connect RP-Initiated Logout 1.0](https://openid.net/specs/openid-connect-rpinitiated-1_0.html),
 * OAuth 2.0 for
 * First-Party Applications (authorization challenge endpoint), and the
 * OAuth 2.0 for Browser-Based Applications BCP as the threat model.
 *
 * Where things live:
 * - the DPoP private key: IndexedDB, as a non-extractable `CryptoKey`;
 * - the refresh token: IndexedDB (cookieless mode), or an `HttpOnly` cookie
 *   the SDK never sees (cookie mode);
 * - the access token: memory only, per tab, shared between tabs of the
 *   origin over a `BroadcastChannel` (never written to storage).
 *
 * Refresh (DESIGN.md §4, "confirmed rotation"): every refresh runs under a
 * cross-tab lock and reads the refresh token from IndexedDB inside it, so
 * two tabs never present the same token at once; a tab that waited finds the
 * newer version another tab wrote and takes that tab's access token instead
 * of rotating again. A refresh whose response is lost (network error,
 * timeout, 5xx) is retried with the SAME refresh token a few times within
 * the server's grace window, which answers a retry with the same child; the
 * session is dropped only when the server says `invalid_grant`.
 *
 * Not supported: confidential clients, implicit or hybrid flows,
 * `response_mode` other than `query`, PAR, `private_key_jwt`, DPoP
 * algorithms other than ES256, verifying ID token signatures (the ID token
 * comes straight from the token endpoint over TLS, which OIDC Core §3.1.3.7
 * accepts in place of a signature check; its `iss`, `aud` and `nonce` are
 * checked).
 *
 * @module
 */
import { decodeJwtPayload, randomString, sha256 } from "./base64url.js";
import { createProof, generateDpopKey } from "./dpop.js";
import { EmailVerificationRequiredError, HoldfastError, LoginRequiredError, StepUpRequiredError, TransientError } from "./errors.js";
import { CrossTabLock } from "./lock.js";
import { defaultStorage } from "./storage.js";
import { relevantChallenge } from "./www-authenticate.js";
/** The window name of a step-up popup: its callback is the opener's to finish. */
export const STEP_UP_POPUP_NAME = "holdfast-step-up";
/**
 * Whether this page is a sign-in popup of a page of this origin (named so,
 * or opened by a same-origin page; browsers may clear the name on
 * cross-site navigations).
 */
function inSignInPopup() {
    if (typeof window === "undefined" || !window.opener)
        return false;
    if (window.name === STEP_UP_POPUP_NAME)
        return true;
    try {
        return window.opener.location.origin === location.origin;
    }
    catch {
        return false;
    }
}
const DEFAULT_RETRY_DELAYS_MS = [250, 1000, 3000];
const PENDING_MAX_AGE_MS = 30 * 60 * 1000;
function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}
/**
 * A token is used until a quarter of its life (at most 30 s) remains, so a
 * request never leaves with a token about to expire in flight.
 */
function isFresh(t, now = Date.now()) {
    const margin = Math.min(30_000, (t.expiresAt - t.receivedAt) / 4);
    return t.expiresAt - now > margin;
}
function newVersion() {
    return `${Date.now().toString(36)}.${randomString(9)}`;
}
async function readJson(res) {
    const text = await res.text();
    try {
        const value = JSON.parse(text);
        return value !== null && typeof value === "object" ? value : undefined;
    }
    catch {
        return undefined;
    }
}
function str(v) {
    return typeof v === "string" ? v : undefined;
}
/**
 * A browser client of one Holdfast tenant. Create one per `(issuer,
 * clientId)` per page; every tab of the origin that creates one with the
 * same pair shares the key and the session.
 *
 * Events (`addEventListener`): `signedin`, `signedout` (`detail.reason`:
 * {@link SignOutReason}), `tokens` (new access token, also from another tab).
 */
export class HoldfastClient extends EventTarget {
    /** The issuer, without a trailing slash. */
    issuer;
    /** The client id. */
    clientId;
    #options;
    #namespace;
    #storage;
    #lock;
    #channel;
    #fetch;
    #endpoints;
    #tokens;
    #refreshing;
    #nonces = new Map();
    #clockSkewSeconds = 0;
    /** Discovery's `authorization_response_iss_parameter_supported` (RFC 9207 §3). */
    #issInResponse = false;
    #peerWaiters = new Set();
    constructor(options) {
        super();
        if (!options.issuer || !options.clientId)
            throw new TypeError("issuer and clientId are required");
        this.#options = options;
        this.issuer = options.issuer.replace(/\/+$/, "");
        this.clientId = options.clientId;
        this.#namespace = `${this.issuer} ${this.clientId}`;
        this.#storage = options.storage ?? defaultStorage();
        this.#lock = new CrossTabLock(`holdfast:${this.#namespace}`);
        this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
        this.#channel = typeof BroadcastChannel === "undefined" ? undefined : new BroadcastChannel(`holdfast:${this.#namespace}`);
        if (this.#channel)
            this.#channel.onmessage = (e) => this.#onMessage(e.data);
    }
    /** How refreshes are serialised across tabs here. */
    get lockMechanism() {
        return this.#lock.mechanism;
    }
    /** Stops listening to other tabs. The client is unusable afterwards. */
    close() {
        this.#channel?.close();
    }
    // ---------------------------------------------------------------- state
    /** Whether a session exists (in memory, or stored for this browser). */
    async isSignedIn() {
        if (this.#tokens)
            return true;
        return (await this.#storage.get("sessions", this.#namespace)) !== undefined;
    }
    /** The current session, if this tab holds tokens. */
    getSession() {
        const t = this.#tokens;
        if (!t)
            return undefined;
        return {
            sid: t.sid,
            tokenType: t.tokenType,
            scope: t.scope,
            accessTokenExpiresAt: t.expiresAt,
            refreshTokenStorage: this.#options.refreshTokenStorage === "cookie" ? "cookie" : "indexeddb",
        };
    }
    /** Claims of the latest ID token (scope `openid`), if any. */
    getUser() {
        return this.#tokens?.idTokenClaims;
    }
    /**
     * This browser's DPoP key: its thumbprint (`jkt`, what tokens are bound
     * to) and whether the private key is extractable (always `false` for keys
     * this SDK made). `undefined` if there is none yet.
     */
    async getKeyInfo() {
        const key = await this.#storage.get("keys", this.#namespace);
        return key && { jkt: key.jkt, extractable: key.privateKey.extractable, createdAt: key.createdAt };
    }
    // ------------------------------------------------------------ discovery
    /** The endpoints, from discovery (fetched once) and the options. */
    endpoints() {
        this.#endpoints ??= this.#discover().catch((e) => {
            this.#endpoints = undefined;
            throw e;
        });
        return this.#endpoints;
    }
    async #discover() {
        const url = `${this.issuer}/.well-known/openid-configuration`;
        let res;
        try {
            res = await this.#fetch(url, { headers: { Accept: "application/json" }, credentials: "omit" });
        }
        catch (e) {
            throw new TransientError("network_error", `cannot fetch ${url}`, { cause: e });
        }
        if (!res.ok) {
            const Err = res.status >= 500 ? TransientError : HoldfastError;
            throw new Err("discovery_failed", `discovery answered ${res.status}`, { status: res.status });
        }
        const doc = (await readJson(res)) ?? {};
        // OIDC Discovery §4.3: the issuer in the document MUST be identical to
        // the one the client was configured with.
        if (doc.issuer !== this.issuer) {
            throw new HoldfastError("invalid_issuer", `discovery names issuer ${String(doc.issuer)}, expected ${this.issuer}`);
        }
        this.#issInResponse = doc.authorization_response_iss_parameter_supported === true;
        const o = this.#options.endpoints ?? {};
        const need = (name) => {
            const v = str(doc[name]);
            if (!v)
                throw new HoldfastError("discovery_failed", `discovery lacks ${name}`);
            return v;
        };
        return {
            authorization: o.authorization ?? need("authorization_endpoint"),
            token: o.token ?? need("token_endpoint"),
            revocation: o.revocation ?? str(doc.revocation_endpoint) ?? `${this.issuer}/revoke`,
            userinfo: o.userinfo ?? str(doc.userinfo_endpoint) ?? `${this.issuer}/userinfo`,
            authorizationChallenge: o.authorizationChallenge ?? str(doc.authorization_challenge_endpoint) ?? `${this.issuer}/authorize-challenge`,
            sessions: o.sessions ?? str(doc.holdfast_sessions_endpoint) ?? `${this.issuer}/sessions`,
            logout: o.logout ?? str(doc.holdfast_logout_endpoint) ?? `${this.issuer}/logout`,
            endSession: o.endSession ?? str(doc.end_session_endpoint),
            accountApi: o.accountApi ?? `${this.issuer}/api`,
        };
    }
    // ------------------------------------------------------------------ key
    async #ensureKey(fresh = false) {
        if (fresh)
            await this.#storage.delete("keys", this.#namespace);
        const existing = await this.#storage.get("keys", this.#namespace);
        if (existing)
            return existing;
        const made = await generateDpopKey();
        // Another tab may have stored one meanwhile: theirs wins, so every tab
        // of the origin signs with the same key.
        if (await this.#storage.add("keys", this.#namespace, made))
            return made;
        const winner = await this.#storage.get("keys", this.#namespace);
        if (!winner)
            throw new HoldfastError("storage_error", "the DPoP key could not be stored");
        return winner;
    }
    async #deviceId() {
        const existing = await this.#storage.get("devices", this.#namespace);
        if (existing)
            return existing;
        const made = crypto.randomUUID();
        if (await this.#storage.add("devices", this.#namespace, made))
            return made;
        return (await this.#storage.get("devices", this.#namespace)) ?? made;
    }
    // -------------------------------------------------------------- sign-in
    /**
     * Builds the authorization request (PKCE S256, `state`, `nonce`, and
     * `dpop_jkt` binding the code to this browser's key, RFC 9449 §10) and
     * remembers what the callback needs.
     */
    async createAuthorizationUrl(options = {}, stepUpRequest) {
        const [endpoints, key] = await Promise.all([this.endpoints(), this.#ensureKey(options.newKey)]);
        const redirectUri = options.redirectUri ?? this.#options.redirectUri ?? `${location.origin}/callback`;
        const codeVerifier = randomString(32);
        const state = randomString(16);
        const nonce = randomString(16);
        const url = new URL(endpoints.authorization);
        const params = {
            response_type: "code",
            client_id: this.clientId,
            redirect_uri: redirectUri,
            scope: options.scope ?? this.#options.scope ?? "openid",
            state,
            nonce,
            code_challenge: await sha256(codeVerifier),
            code_challenge_method: "S256",
            dpop_jkt: key.jkt,
            prompt: options.prompt,
            max_age: options.maxAge === undefined ? undefined : String(options.maxAge),
            login_hint: options.loginHint,
            acr_values: options.acrValues,
            resource: this.#options.resource,
        };
        for (const [k, v] of Object.entries(params))
            if (v !== undefined)
                url.searchParams.set(k, v);
        await this.#storage.put("pending", state, {
            namespace: this.#namespace,
            codeVerifier,
            nonce,
            redirectUri,
            createdAt: Date.now(),
            appState: options.appState,
            stepUpRequest,
        });
        return url.href;
    }
    /**
     * Signs in in a popup window (e.g. a step-up: `{ acrValues, maxAge }`):
     * the hosted pages run there, and this page finishes the sign-in when the
     * popup comes back to the redirect URI (same origin). Call it from a user
     * gesture, or the browser may block the popup. Throws `popup_blocked`,
     * `popup_closed`, or the authorization error.
     */
    async signInWithPopup(options = {}) {
        // Opened first, while the click's activation lasts; pointed at the
        // authorization URL once it is made.
        const popup = window.open("about:blank", STEP_UP_POPUP_NAME, "popup,width=520,height=720");
        if (!popup)
            throw new HoldfastError("popup_blocked", "the browser blocked the sign-in window");
        let url;
        try {
            url = await this.createAuthorizationUrl(options);
        }
        catch (e) {
            popup.close();
            throw e;
        }
        popup.location.href = url;
        const callback = await new Promise((resolve, reject) => {
            const timer = setInterval(() => {
                if (popup.closed) {
                    clearInterval(timer);
                    reject(new HoldfastError("popup_closed", "the sign-in window was closed"));
                    return;
                }
                let href;
                try {
                    // Readable only once the popup is back on this origin.
                    href = popup.location.href;
                }
                catch {
                    return;
                }
                if (href && href !== "about:blank" && this.isRedirectCallback(href)) {
                    clearInterval(timer);
                    popup.close();
                    resolve(href);
                }
            }, 100);
        });
        return this.handleRedirectCallback(callback);
    }
    /** Sends the browser to the hosted sign-in page. Never resolves. */
    async signInWithRedirect(options = {}) {
        location.assign(await this.createAuthorizationUrl(options));
        return new Promise(() => { });
    }
    /**
     * Whether `url` (default: the current one) is an authorization response.
     * In a step-up popup (window name {@link STEP_UP_POPUP_NAME}, with an
     * opener) the current page's answer is `false`: the opener finishes it.
     */
    isRedirectCallback(url) {
        if (url === undefined && inSignInPopup())
            return false;
        const p = new URL(url ?? location.href).searchParams;
        return p.has("state") && (p.has("code") || p.has("error"));
    }
    /**
     * Completes a hosted sign-in: checks `state` and `iss`, redeems the code
     * with the PKCE verifier and a DPoP proof, and stores the session. The
     * caller should then replace the URL (`history.replaceState`) to drop the
     * code from it.
     */
    async handleRedirectCallback(url = location.href) {
        const p = new URL(url).searchParams;
        const state = p.get("state");
        if (!state)
            throw new HoldfastError("invalid_request", "the callback URL has no state");
        const pending = await this.#storage.take("pending", state);
        if (!pending || pending.namespace !== this.#namespace || Date.now() - pending.createdAt > PENDING_MAX_AGE_MS) {
            throw new HoldfastError("invalid_state", "unknown, expired or already used sign-in state");
        }
        // RFC 9207 §2.4: "clients MUST ... compare the iss parameter to the
        // issuer identifier" — a mix-up attack otherwise goes unnoticed.
        const iss = p.get("iss");
        await this.endpoints();
        if (iss === null && this.#issInResponse) {
            throw new HoldfastError("invalid_issuer", "the authorization response lacks iss, which this server always sends");
        }
        if (iss !== null && iss !== this.issuer) {
            throw new HoldfastError("invalid_issuer", `the response comes from ${iss}, not ${this.issuer}`);
        }
        const error = p.get("error");
        if (error) {
            const description = p.get("error_description") ?? undefined;
            throw new HoldfastError(error, description ?? error, { description });
        }
        const code = p.get("code");
        if (!code)
            throw new HoldfastError("invalid_request", "the callback URL has no code");
        const key = await this.#storage.get("keys", this.#namespace);
        if (!key)
            throw new HoldfastError("key_missing", "the DPoP key of this sign-in is gone; sign in again");
        const body = await this.#tokenRequest({
            grant_type: "authorization_code",
            code,
            code_verifier: pending.codeVerifier,
            redirect_uri: pending.redirectUri,
            client_id: this.clientId,
            device_id: await this.#deviceId(),
        }, key);
        await this.#completeSignIn(body, pending.nonce);
        const kept = pending.stepUpRequest;
        if (kept) {
            // RFC 9470 §5: the call that was refused, once more, with the new
            // token. The sign-in stands whatever this answers.
            try {
                const retried = await this.authFetch(kept.url, { method: kept.method, headers: kept.headers, body: kept.body }, { stepUp: "throw" });
                return { appState: pending.appState, stepUpResponse: retried };
            }
            catch (e) {
                return { appState: pending.appState, stepUpError: e };
            }
        }
        return { appState: pending.appState };
    }
    /**
     * First-party sign-in: posts the credentials to the authorization
     * challenge endpoint (with PKCE and `dpop_jkt`), then redeems the code with
     * a DPoP proof. Wrong credentials throw a {@link HoldfastError} with code
     * `invalid_grant`.
     */
    async signInWithPassword(username, password, options = {}) {
        const [endpoints, key] = await Promise.all([this.endpoints(), this.#ensureKey(options.newKey)]);
        const codeVerifier = randomString(32);
        const nonce = randomString(16);
        const form = {
            client_id: this.clientId,
            username,
            password,
            code_challenge: await sha256(codeVerifier),
            code_challenge_method: "S256",
            scope: options.scope ?? this.#options.scope ?? "openid",
            dpop_jkt: key.jkt,
            nonce,
        };
        if (this.#options.resource)
            form.resource = this.#options.resource;
        const res = await this.#post(endpoints.authorizationChallenge, form, "omit");
        const body = await readJson(res).catch(() => undefined);
        if (body?.email_verification_required === true && typeof body.ticket === "string") {
            throw new EmailVerificationRequiredError(str(body.email) ?? "", body.ticket, str(body.error_description));
        }
        if (!res.ok || !body || typeof body.authorization_code !== "string") {
            throw this.#errorFrom(res, body, "authorization challenge");
        }
        const tokens = await this.#tokenRequest({
            grant_type: "authorization_code",
            code: body.authorization_code,
            code_verifier: codeVerifier,
            client_id: this.clientId,
            device_id: await this.#deviceId(),
        }, key);
        await this.#completeSignIn(tokens, nonce);
    }
    async #completeSignIn(body, nonce) {
        let claims;
        try {
            claims = body.id_token ? this.#checkIdToken(body.id_token, nonce) : undefined;
        }
        catch (e) {
            // Refuse the sign-in, and leave no live session behind on the server.
            if (body.refresh_token)
                void this.#revokeRefreshToken(body.refresh_token).catch(() => undefined);
            throw e;
        }
        const mode = body.refresh_token ? "indexeddb" : "cookie";
        const record = { mode, version: newVersion(), updatedAt: Date.now() };
        if (body.refresh_token)
            record.refreshToken = body.refresh_token;
        if (claims && body.id_token)
            record.idToken = body.id_token;
        const tokens = this.#tokenSet(body, record.version, claims, claims && body.id_token);
        if (tokens.sid)
            record.sid = tokens.sid;
        const previous = await this.#lock.run(async () => {
            const old = await this.#storage.get("sessions", this.#namespace);
            if (mode === "cookie" && this.#options.refreshTokenStorage !== "cookie") {
                // No refresh token anywhere: the session lasts as long as the access token.
                await this.#storage.delete("sessions", this.#namespace);
            }
            else {
                await this.#storage.put("sessions", this.#namespace, record);
            }
            this.#tokens = tokens;
            return old;
        });
        this.#broadcast({ type: "tokens", tokens, signedIn: true });
        this.#emit("signedin", { user: claims });
        // Signing in again replaces this browser's previous session: end it on
        // the server too rather than leave it orphaned (best effort).
        if (previous?.refreshToken && previous.sid !== tokens.sid) {
            void this.#revokeRefreshToken(previous.refreshToken).catch(() => undefined);
        }
    }
    #checkIdToken(idToken, nonce) {
        const claims = decodeJwtPayload(idToken);
        if (!claims || typeof claims.sub !== "string")
            throw new HoldfastError("invalid_id_token", "malformed ID token");
        // OIDC Core §3.1.3.7 steps 2, 3 and 11.
        if (claims.iss !== this.issuer)
            throw new HoldfastError("invalid_id_token", "ID token from another issuer");
        const aud = claims.aud;
        if (!(aud === this.clientId || (Array.isArray(aud) && aud.includes(this.clientId)))) {
            throw new HoldfastError("invalid_id_token", "ID token for another client");
        }
        if (nonce !== undefined && claims.nonce !== nonce)
            throw new HoldfastError("invalid_id_token", "ID token nonce mismatch");
        return claims;
    }
    /**
     * The claims of an ID token from a refresh, if it is well-formed and
     * (OIDC Core §12.2) about the same user; otherwise the previous claims
     * stay. Never fails the refresh: the new refresh token is already stored.
     */
    #refreshedIdToken(idToken) {
        if (!idToken)
            return undefined;
        try {
            const claims = this.#checkIdToken(idToken, undefined);
            const previous = this.#tokens?.idTokenClaims?.sub;
            if (previous !== undefined && claims.sub !== previous)
                throw new Error("the refreshed ID token is about another user");
            return claims;
        }
        catch (e) {
            console.warn("holdfast: ignoring the refreshed ID token", e);
            return undefined;
        }
    }
    #tokenSet(body, version, idTokenClaims, idToken) {
        const receivedAt = Date.now();
        const at = decodeJwtPayload(body.access_token);
        // Learn the server's clock from the token's iat, so proofs' iat stays
        // inside the server's window on a machine whose clock is off.
        if (at && typeof at.iat === "number") {
            const skew = at.iat - Math.floor(receivedAt / 1000);
            this.#clockSkewSeconds = Math.abs(skew) > 5 ? skew : 0;
        }
        let lifetime = typeof body.expires_in === "number" ? body.expires_in : undefined;
        if (lifetime === undefined && at && typeof at.exp === "number" && typeof at.iat === "number")
            lifetime = at.exp - at.iat;
        return {
            accessToken: body.access_token,
            tokenType: body.token_type?.toLowerCase() === "dpop" ? "DPoP" : "Bearer",
            expiresAt: receivedAt + (lifetime ?? 60) * 1000,
            receivedAt,
            scope: body.scope,
            version,
            sid: str(at?.sid),
            idTokenClaims: idTokenClaims ?? this.#tokens?.idTokenClaims,
            idToken: idTokenClaims ? idToken : this.#tokens?.idToken,
        };
    }
    // ------------------------------------------------------------- refresh
    /**
     * A valid access token, refreshing first if needed. Throws
     * {@link LoginRequiredError} when there is no session and
     * {@link TransientError} when the server could not be reached (the
     * session is kept; try again later).
     */
    async getAccessToken() {
        return (await this.#currentTokens()).accessToken;
    }
    /**
     * Refreshes now (single-flight: joins a refresh already running in this
     * tab, and takes the result of one another tab finished meanwhile).
     */
    async refresh() {
        await this.#refreshSingleFlight(this.#tokens?.version);
    }
    async #currentTokens() {
        const t = this.#tokens;
        if (t && isFresh(t))
            return t;
        return this.#refreshSingleFlight(t?.version);
    }
    #refreshSingleFlight(startVersion) {
        this.#refreshing ??= this.#lock.run(() => this.#refreshLocked(startVersion)).finally(() => {
            this.#refreshing = undefined;
        });
        return this.#refreshing;
    }
    /** The refresh proper. Runs only while holding the cross-tab lock. */
    async #refreshLocked(startVersion) {
        const stored = await this.#storage.get("sessions", this.#namespace);
        if (!stored) {
            // Signed out (perhaps in another tab), or a session without a
            // refresh token whose access token has run out.
            this.#tokens = undefined;
            throw new LoginRequiredError("not signed in");
        }
        if (stored.version !== startVersion) {
            // Another tab refreshed (or signed in) after we decided to: use its
            // result rather than rotate again. If we held tokens, that tab was
            // alive a moment ago and answers fast; a tab just opened may have no
            // peers at all, so it waits less.
            const mine = this.#tokens;
            if (mine && mine.version === stored.version && isFresh(mine))
                return mine;
            const wait = startVersion === undefined ? (this.#options.peerWaitMs ?? 200) : Math.max(1000, this.#options.peerWaitMs ?? 0);
            const shared = await this.#askPeers(stored.version, wait);
            if (shared)
                return shared;
        }
        const key = await this.#storage.get("keys", this.#namespace);
        if (!key) {
            // The refresh token is bound to a key that no longer exists: useless.
            await this.#endLocalSession("key_missing");
            throw new LoginRequiredError("the DPoP key is gone; sign in again");
        }
        const params = { grant_type: "refresh_token", client_id: this.clientId };
        if (stored.mode === "indexeddb" && stored.refreshToken)
            params.refresh_token = stored.refreshToken;
        let body;
        try {
            body = await this.#withRetries(() => this.#tokenRequest(params, key));
        }
        catch (e) {
            if (e instanceof HoldfastError && e.code === "invalid_grant") {
                // The server ended the session (revoked, expired, reuse detected),
                // or this token can no longer be used (bound to another key, past
                // its retry limit): nothing to retry. Revoke it too (best effort),
                // so that no family is left alive without a holder.
                if (stored.refreshToken)
                    void this.#revokeRefreshToken(stored.refreshToken).catch(() => undefined);
                await this.#endLocalSession("session_ended");
                throw new LoginRequiredError("the session has ended", { cause: e, status: e.status, description: e.description });
            }
            throw e;
        }
        const next = { mode: stored.mode, version: newVersion(), updatedAt: Date.now() };
        const rt = body.refresh_token ?? stored.refreshToken;
        if (stored.mode === "indexeddb" && rt)
            next.refreshToken = rt;
        const sid = str(decodeJwtPayload(body.access_token)?.sid) ?? stored.sid;
        if (sid)
            next.sid = sid;
        const refreshedClaims = this.#refreshedIdToken(body.id_token);
        const idToken = (refreshedClaims && body.id_token) || stored.idToken;
        if (idToken)
            next.idToken = idToken;
        // Persist the child before anything else: it is the only valid token now.
        await this.#storage.put("sessions", this.#namespace, next);
        const tokens = this.#tokenSet(body, next.version, refreshedClaims, refreshedClaims && body.id_token);
        this.#tokens = tokens;
        this.#broadcast({ type: "tokens", tokens });
        this.#emit("tokens", { expiresAt: tokens.expiresAt });
        return tokens;
    }
    /**
     * Repeats `attempt` after transient failures, with the same parameters
     * (so the same refresh token): the server's grace window answers a retry
     * of a rotated token with the same child (DESIGN.md §4).
     */
    async #withRetries(attempt) {
        const delays = this.#options.refreshRetry?.delaysMs ?? DEFAULT_RETRY_DELAYS_MS;
        for (let i = 0;; i++) {
            try {
                return await attempt();
            }
            catch (e) {
                const delay = delays[i];
                if (!(e instanceof TransientError) || delay === undefined)
                    throw e;
                await sleep(delay);
            }
        }
    }
    /** Asks other tabs for the access token of `version`. */
    #askPeers(version, waitMs) {
        if (!this.#channel)
            return Promise.resolve(undefined);
        return new Promise((resolve) => {
            const waiter = (t) => {
                if (t.version !== version || !isFresh(t))
                    return;
                this.#peerWaiters.delete(waiter);
                clearTimeout(timer);
                resolve(t);
            };
            const timer = setTimeout(() => {
                this.#peerWaiters.delete(waiter);
                resolve(undefined);
            }, waitMs);
            this.#peerWaiters.add(waiter);
            this.#broadcast({ type: "want", version });
        });
    }
    #onMessage(msg) {
        switch (msg?.type) {
            case "tokens": {
                const mine = this.#tokens;
                if (!mine || msg.tokens.receivedAt >= mine.receivedAt) {
                    this.#tokens = msg.tokens;
                    // A sign-in in another tab (perhaps as someone else) is this tab's too.
                    if (msg.signedIn)
                        this.#emit("signedin", { user: msg.tokens.idTokenClaims });
                    this.#emit("tokens", { expiresAt: msg.tokens.expiresAt });
                }
                for (const waiter of [...this.#peerWaiters])
                    waiter(msg.tokens);
                break;
            }
            case "want": {
                const mine = this.#tokens;
                if (mine && mine.version === msg.version && isFresh(mine))
                    this.#broadcast({ type: "tokens", tokens: mine });
                break;
            }
            case "signedout": {
                const had = this.#tokens !== undefined;
                this.#tokens = undefined;
                if (had)
                    this.#emit("signedout", { reason: "other_tab", cause: msg.reason });
                break;
            }
        }
    }
    #broadcast(msg) {
        try {
            this.#channel?.postMessage(msg);
        }
        catch {
            // A closed channel: other tabs will refresh on their own.
        }
    }
    #emit(type, detail) {
        this.dispatchEvent(new CustomEvent(type, { detail }));
    }
    // ------------------------------------------------------ token endpoint
    /**
     * One token request with a fresh proof; repeated once with the server's
     * nonce on `use_dpop_nonce` (RFC 9449 §8). Network failures, timeouts,
     * unreadable bodies, 5xx and 429 become {@link TransientError}.
     */
    async #tokenRequest(params, key) {
        const endpoint = (await this.endpoints()).token;
        const credentials = this.#options.refreshTokenStorage === "cookie" ? "include" : "omit";
        for (let attempt = 0;; attempt++) {
            const proof = await createProof(key, {
                method: "POST",
                url: endpoint,
                nonce: this.#nonces.get(this.#nonceKey(endpoint)),
                clockSkewSeconds: this.#clockSkewSeconds,
            });
            const res = await this.#post(endpoint, params, credentials, { DPoP: proof });
            let body;
            try {
                body = await this.#withTimeout(readJson(res));
            }
            catch (e) {
                // The server answered but the body did not arrive: as good as lost.
                throw new TransientError("network_error", "the token response was cut off", { cause: e });
            }
            if (res.ok && body && typeof body.access_token === "string")
                return body;
            if (body?.error === "use_dpop_nonce" && attempt === 0 && res.headers.has("DPoP-Nonce"))
                continue;
            throw this.#errorFrom(res, body, "token endpoint");
        }
    }
    /** POSTs a form; network failure or timeout is a {@link TransientError}. */
    async #post(url, form, credentials, headers = {}) {
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), this.#options.requestTimeoutMs ?? 10_000);
        try {
            const res = await this.#fetch(url, {
                method: "POST",
                headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json", ...headers },
                body: new URLSearchParams(form),
                credentials,
                cache: "no-store",
                signal: controller.signal,
            });
            this.#rememberNonce(url, res);
            return res;
        }
        catch (e) {
            throw new TransientError("network_error", `no response from ${url}`, { cause: e });
        }
        finally {
            clearTimeout(timer);
        }
    }
    #withTimeout(p) {
        const ms = this.#options.requestTimeoutMs ?? 10_000;
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error("timed out reading the response")), ms);
            p.then((v) => {
                clearTimeout(timer);
                resolve(v);
            }, (e) => {
                clearTimeout(timer);
                reject(e);
            });
        });
    }
    #errorFrom(res, body, what) {
        const code = str(body?.error);
        const description = str(body?.error_description);
        const message = `${what}: ${code ?? `HTTP ${res.status}`}${description ? `: ${description}` : ""}`;
        if (res.status >= 500 || res.status === 429 || (res.ok && !code)) {
            return new TransientError(code ?? "server_error", message, { status: res.status, description });
        }
        return new HoldfastError(code ?? "invalid_response", message, { status: res.status, description });
    }
    /** Nonces are per server: the tenant for Holdfast's endpoints, else the origin. */
    #nonceKey(url) {
        return url.startsWith(`${this.issuer}/`) ? this.issuer : new URL(url).origin;
    }
    #rememberNonce(url, res) {
        const nonce = res.headers.get("DPoP-Nonce");
        if (nonce)
            this.#nonces.set(this.#nonceKey(url), nonce);
    }
    // ----------------------------------------------------------- resources
    /**
     * `Authorization` and `DPoP` headers for one request with the current
     * access token, for apps that make requests `authFetch` cannot (e.g. a
     * `WebSocket` URL handshake through a proxy). Each call makes a new proof.
     */
    async authHeaders(method, url) {
        return this.#headersFor(await this.#currentTokens(), method, new URL(url, location.href).href);
    }
    async #headersFor(tokens, method, url) {
        if (tokens.tokenType !== "DPoP")
            return { Authorization: `Bearer ${tokens.accessToken}` };
        const key = await this.#storage.get("keys", this.#namespace);
        if (!key)
            throw new LoginRequiredError("the DPoP key is gone; sign in again");
        const proof = await createProof(key, {
            method,
            url,
            nonce: this.#nonces.get(this.#nonceKey(url)),
            accessToken: tokens.accessToken,
            clockSkewSeconds: this.#clockSkewSeconds,
        });
        return { Authorization: `DPoP ${tokens.accessToken}`, DPoP: proof };
    }
    /** Sends `base` with `tokens`, once more if the server asks for a nonce. */
    async #send(base, tokens) {
        for (let attempt = 0;; attempt++) {
            const req = base.clone();
            const headers = new Headers(req.headers);
            for (const [k, v] of Object.entries(await this.#headersFor(tokens, req.method, req.url)))
                headers.set(k, v);
            const res = await this.#fetch(new Request(req, { headers }));
            this.#rememberNonce(req.url, res);
            if (res.ok)
                return { res, error: undefined, params: {} };
            const challenge = relevantChallenge(res.headers.get("WWW-Authenticate"));
            const params = challenge?.params ?? {};
            let error = params.error;
            if (!error && res.status === 400 && (res.headers.get("Content-Type") ?? "").includes("json")) {
                error = str((await readJson(res.clone()).catch(() => undefined))?.error);
            }
            // RFC 9449 §9: a resource server's nonce challenge; one retry.
            if (error === "use_dpop_nonce" && attempt === 0 && res.headers.has("DPoP-Nonce"))
                continue;
            return { res, error, params };
        }
    }
    /**
     * `fetch` with the user's access token: adds `Authorization: DPoP …` and a
     * fresh `DPoP` proof bound to the token (`ath`) and to this request's
     * method and URL; retries once with the server's nonce on
     * `use_dpop_nonce`; on `401 invalid_token` (an expired or revoked token)
     * refreshes once and retries. A step-up challenge
     * (`insufficient_user_authentication`, RFC 9470 §3) is answered as the
     * `stepUp` option says (default: throws {@link StepUpRequiredError}); after
     * a step-up the call is retried once, and a second challenge throws.
     * Other responses, errors included, are returned as they are.
     *
     * A request body that is a stream can be sent only once; pass a string,
     * `Blob`, `FormData` or `URLSearchParams` for bodies that may be retried.
     */
    async authFetch(input, init, options = {}) {
        const base = new Request(input, init);
        let tokens = await this.#currentTokens();
        let refreshed = false;
        let mode = options.stepUp ?? this.#options.stepUp ?? "throw";
        for (;;) {
            const { res, error, params } = await this.#send(base, tokens);
            if (error === "insufficient_user_authentication") {
                const challenge = new StepUpRequiredError(res, params);
                if (mode === "throw")
                    throw challenge;
                const signIn = { acrValues: challenge.acrValues, maxAge: challenge.maxAge };
                if (mode === "redirect") {
                    const kept = {
                        url: base.url,
                        method: base.method,
                        headers: [...base.headers].filter(([k]) => !["authorization", "dpop"].includes(k.toLowerCase())),
                        body: base.method === "GET" || base.method === "HEAD" ? undefined : await base.clone().text(),
                    };
                    location.assign(await this.createAuthorizationUrl(signIn, kept));
                    return new Promise(() => { });
                }
                await this.signInWithPopup(signIn);
                tokens = await this.#currentTokens();
                mode = "throw";
                continue;
            }
            if (res.status === 401 && error === "invalid_token" && !refreshed) {
                refreshed = true;
                tokens = await this.#refreshSingleFlight(tokens.version);
                continue;
            }
            return res;
        }
    }
    /** The UserInfo response (OIDC Core §5.3) for the signed-in user. */
    async userinfo() {
        const res = await this.authFetch((await this.endpoints()).userinfo);
        const body = await readJson(res);
        if (!res.ok || !body)
            throw this.#errorFrom(res, body, "userinfo");
        return body;
    }
    // ------------------------------------------------------------ sessions
    /** The user's live sessions (devices); `current` marks this browser's. */
    async listSessions() {
        const res = await this.authFetch((await this.endpoints()).sessions, { cache: "no-store" });
        const body = await readJson(res);
        if (!res.ok || !body || !Array.isArray(body.sessions))
            throw this.#errorFrom(res, body, "sessions");
        return body.sessions;
    }
    /**
     * Signs out one session of the user (this browser's too: then like
     * {@link signOut}, with its options).
     */
    async revokeSession(sid, options = {}) {
        if (sid === this.#tokens?.sid) {
            await this.signOut(options);
            return;
        }
        const url = `${(await this.endpoints()).sessions}/${encodeURIComponent(sid)}`;
        const res = await this.authFetch(url, { method: "DELETE" });
        if (!res.ok)
            throw this.#errorFrom(res, await readJson(res), "revoke session");
    }
    /** Signs out every other session of the user; resolves to how many. */
    async revokeOtherSessions() {
        const res = await this.authFetch(`${(await this.endpoints()).sessions}/revoke-others`, { method: "POST" });
        const body = await readJson(res);
        if (!res.ok)
            throw this.#errorFrom(res, body, "revoke other sessions");
        return typeof body?.revoked === "number" ? body.revoked : 0;
    }
    // ------------------------------------------------------------ accounts
    /** `POST {accountApi}/{path}` as this client; the JSON answer, or throws. */
    async #account(path, form, what) {
        const res = await this.#post(`${(await this.endpoints()).accountApi}/${path}`, { client_id: this.clientId, ...form }, "omit");
        const body = await readJson(res);
        if (!res.ok || !body)
            throw this.#errorFrom(res, body, what);
        return body;
    }
    /**
     * Creates an account where the tenant's registration is open. Bad input
     * (an invalid address, a password the policy refuses) throws a
     * {@link HoldfastError} with code `invalid_request` and the reason in
     * `description`; closed registration, `access_denied`.
     */
    async signUp(input) {
        const form = { email: input.email, password: input.password };
        if (input.name)
            form.name = input.name;
        const body = await this.#account("signup", form, "sign-up");
        if (body.status === "verification_required" && typeof body.ticket === "string") {
            return { status: "verification_required", email: str(body.email) ?? input.email, ticket: body.ticket };
        }
        return { status: "created" };
    }
    /**
     * Verifies an address with the mailed code and the `ticket` of
     * {@link signUp} or {@link EmailVerificationRequiredError}, or with the
     * mailed link's `token`. A wrong, used or expired code throws code
     * `invalid_grant`.
     */
    async verifyEmail(input) {
        await this.#account("verify-email", "token" in input ? { token: input.token } : { ticket: input.ticket, code: input.code }, "email verification");
    }
    /**
     * Mails a password-reset link to the account named by `identifier`
     * (username or email), if there is one; resolves alike either way.
     */
    async requestPasswordReset(identifier) {
        await this.#account("forgot-password", { identifier }, "password reset request");
    }
    /**
     * Sets a new password with a reset link's `token`; every session of the
     * user ends. Sign in with the new password afterwards.
     */
    async resetPassword(token, password) {
        await this.#account("reset-password", { token, password }, "password reset");
    }
    /**
     * Changes the signed-in user's password. The server ends every session
     * of the user, this one too; the SDK then signs in again here with the
     * new password (a fresh DPoP key), so this device stays signed in and
     * the others are out. A wrong current password throws code
     * `invalid_grant` and changes nothing. If the new sign-in fails (or the
     * ID token has no `preferred_username`, i.e. no `profile` scope), the
     * change stands, this device is signed out, and it throws
     * {@link LoginRequiredError}.
     */
    async changePassword(currentPassword, newPassword) {
        const username = this.getUser()?.preferred_username;
        const res = await this.authFetch(`${(await this.endpoints()).accountApi}/change-password`, {
            method: "POST",
            headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
            body: new URLSearchParams({ current_password: currentPassword, new_password: newPassword }),
            cache: "no-store",
        });
        const body = await readJson(res);
        if (!res.ok)
            throw this.#errorFrom(res, body, "password change");
        // The password has changed and this session has ended on the server.
        // Replace it with a new one (and a new key); if that cannot be done,
        // sign out here and say so: the change itself stands.
        try {
            if (typeof username !== "string")
                throw new Error("the ID token names no username (scope profile)");
            await this.signInWithPassword(username, newPassword, { newKey: true });
        }
        catch (e) {
            await this.#lock.run(() => this.#endLocalSession("session_ended"));
            throw new LoginRequiredError("the password was changed; sign in again with the new password", { cause: e });
        }
    }
    // ------------------------------------------------------------ sign-out
    /**
     * Signs out: ends the session on the server (`POST {issuer}/logout` with
     * the access token, or RFC 7009 revocation of the refresh token), then
     * deletes the tokens and the DPoP key here and tells the other tabs.
     * Local state is cleared even if the server cannot be reached.
     *
     * Then, unless `keepSso`, it ends the hosted single sign-on session too,
     * so the next sign-in asks for the password again (on a shared computer,
     * anything else is a trap): the browser goes to the server's
     * `end_session_endpoint` (RP-initiated logout) with the ID token as
     * `id_token_hint` and comes back to `postLogoutRedirectUri`. Holdfast
     * signs out without asking when that hint comes from the browser holding
     * its session; otherwise (no ID token, or a sign-in not made in this
     * browser's hosted session) it asks the user to confirm. The promise then
     * never settles: the page is going away.
     *
     * With `keepSso` (or when the server has no end-session endpoint) it
     * resolves; `remote` says whether the server confirmed ending the app's
     * session.
     */
    async signOut(options = {}) {
        const { remote, idToken } = await this.#lock.run(async () => {
            const stored = await this.#storage.get("sessions", this.#namespace);
            const idToken = this.#tokens?.idToken ?? stored?.idToken;
            let remote = false;
            try {
                remote = await this.#endRemoteSession();
            }
            catch {
                // Offline or the server is down: still sign out here.
            }
            await this.#endLocalSession("signed_out");
            return { remote, idToken };
        });
        if (options.keepSso)
            return { remote };
        let endSession;
        try {
            endSession = (await this.endpoints()).endSession;
        }
        catch {
            // Discovery failed (offline): the hosted session cannot be reached either.
        }
        if (!endSession)
            return { remote };
        const url = new URL(endSession);
        const params = {
            // RP-Initiated Logout 1.0 §2: the hint identifies the session; with
            // client_id the server can check post_logout_redirect_uri without it.
            id_token_hint: idToken,
            client_id: this.clientId,
            post_logout_redirect_uri: options.postLogoutRedirectUri ?? this.#options.redirectUri ?? `${location.origin}/callback`,
            state: options.state,
        };
        for (const [k, v] of Object.entries(params))
            if (v !== undefined)
                url.searchParams.set(k, v);
        location.assign(url.href);
        return new Promise(() => { });
    }
    /** Runs under the lock. */
    async #endRemoteSession() {
        const stored = await this.#storage.get("sessions", this.#namespace);
        let tokens = this.#tokens && this.#tokens.expiresAt - Date.now() > 2_000 ? this.#tokens : undefined;
        if (!tokens && stored?.mode === "indexeddb" && stored.refreshToken) {
            return this.#revokeRefreshToken(stored.refreshToken);
        }
        if (!tokens && stored)
            tokens = await this.#refreshLocked(this.#tokens?.version ?? "");
        if (!tokens)
            return false;
        const { res } = await this.#send(new Request((await this.endpoints()).logout, { method: "POST" }), tokens);
        // 401: the session was already gone.
        return res.ok || res.status === 401;
    }
    async #revokeRefreshToken(token) {
        const res = await this.#post((await this.endpoints()).revocation, { token, token_type_hint: "refresh_token", client_id: this.clientId }, "omit");
        return res.ok;
    }
    async #endLocalSession(reason) {
        const had = this.#tokens !== undefined || (await this.#storage.get("sessions", this.#namespace)) !== undefined;
        await this.#storage.delete("sessions", this.#namespace);
        await this.#storage.delete("keys", this.#namespace);
        this.#tokens = undefined;
        this.#broadcast({ type: "signedout", reason });
        if (had)
            this.#emit("signedout", { reason });
    }
}
