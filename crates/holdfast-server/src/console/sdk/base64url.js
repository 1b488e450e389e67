/**
 * base64url without padding ([RFC 4648 §5](https://www.rfc-editor.org/rfc/rfc4648#section-5)),
 * the encoding of every JOSE and PKCE value.
 *
 * @module
 */
/** Encodes bytes as base64url without padding. */
export function encodeBytes(input) {
    const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
        binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
/** Encodes a string's UTF-8 bytes as base64url without padding. */
export function encodeText(text) {
    return encodeBytes(new TextEncoder().encode(text));
}
/** Decodes base64url (padding optional) to bytes; throws on bad input. */
export function decodeBytes(input) {
    const b64 = input.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(b64 + "===".slice((b64.length + 3) % 4));
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++)
        out[i] = binary.charCodeAt(i);
    return out;
}
/** Decodes base64url to a UTF-8 string. */
export function decodeText(input) {
    return new TextDecoder().decode(decodeBytes(input));
}
/** `n` random bytes from the platform CSPRNG, base64url-encoded. */
export function randomString(n = 32) {
    return encodeBytes(crypto.getRandomValues(new Uint8Array(n)));
}
/** base64url(SHA-256(UTF-8 of `text`)): PKCE S256, DPoP `ath`, JWK thumbprints. */
export async function sha256(text) {
    return encodeBytes(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}
/**
 * The payload of a compact JWS, decoded but NOT verified. Only for reading
 * values the SDK received directly from the token endpoint over TLS
 * (OIDC Core §3.1.3.7 allows that for ID tokens); never for trust
 * decisions about tokens from elsewhere.
 */
export function decodeJwtPayload(jwt) {
    const part = jwt.split(".")[1];
    if (part === undefined)
        return undefined;
    try {
        const value = JSON.parse(decodeText(part));
        return value !== null && typeof value === "object" ? value : undefined;
    }
    catch {
        return undefined;
    }
}
