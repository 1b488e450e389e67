/**
 * DPoP proofs, [RFC 9449](https://www.rfc-editor.org/rfc/rfc9449), made with a
 * non-extractable WebCrypto key.
 *
 * The private key is generated with `extractable: false`: script can sign
 * with it but `crypto.subtle.exportKey` rejects, so an XSS payload can use
 * the key only while it runs in the page and can never carry it away. The
 * public half is always extractable (WebCrypto rule), which is what the
 * proof's `jwk` header needs.
 *
 * Not supported: algorithms other than ES256 (every DPoP server must accept
 * it, and it is what WebCrypto signs fastest).
 *
 * @module
 */
import { encodeBytes, encodeText, randomString, sha256 } from "./base64url.js";
const ALGORITHM = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING = { name: "ECDSA", hash: "SHA-256" };
/** Generates a new key pair whose private key cannot be exported. */
export async function generateDpopKey() {
    const pair = await crypto.subtle.generateKey(ALGORITHM, /* extractable */ false, ["sign", "verify"]);
    const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
    if (jwk.kty !== "EC" || jwk.crv !== "P-256" || !jwk.x || !jwk.y) {
        throw new Error("WebCrypto returned an unexpected public key");
    }
    const publicJwk = { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y };
    return {
        privateKey: pair.privateKey,
        publicKey: pair.publicKey,
        publicJwk,
        jkt: await jwkThumbprint(publicJwk),
        createdAt: Date.now(),
    };
}
/**
 * [RFC 7638 §3](https://www.rfc-editor.org/rfc/rfc7638#section-3): SHA-256
 * over the required members in lexicographic order, no whitespace.
 */
export async function jwkThumbprint(jwk) {
    return sha256(`{"crv":"${jwk.crv}","kty":"${jwk.kty}","x":"${jwk.x}","y":"${jwk.y}"}`);
}
/**
 * RFC 9449 §4.2: `htu` is "the HTTP target URI ... without query and
 * fragment parts".
 */
export function htuOf(url) {
    const u = new URL(url);
    u.search = "";
    u.hash = "";
    return u.href;
}
/** Makes a proof JWT (RFC 9449 §4.2) signed by `key`. */
export async function createProof(key, input) {
    const header = { typ: "dpop+jwt", alg: "ES256", jwk: key.publicJwk };
    const claims = {
        jti: randomString(16),
        htm: input.method.toUpperCase(),
        htu: htuOf(input.url),
        iat: Math.floor(Date.now() / 1000) + Math.round(input.clockSkewSeconds ?? 0),
    };
    if (input.nonce !== undefined)
        claims.nonce = input.nonce;
    if (input.accessToken !== undefined)
        claims.ath = await sha256(input.accessToken);
    const signingInput = `${encodeText(JSON.stringify(header))}.${encodeText(JSON.stringify(claims))}`;
    // WebCrypto's ECDSA signature is r || s (IEEE P1363), exactly JWS's format
    // for ES256 (RFC 7518 §3.4); no DER conversion needed.
    const signature = await crypto.subtle.sign(SIGNING, key.privateKey, new TextEncoder().encode(signingInput));
    return `${signingInput}.${encodeBytes(signature)}`;
}
