// Unit tests of the SDK's pure parts, in Node (which has WebCrypto, atob and
// btoa like a browser): proofs, thumbprints, htu, WWW-Authenticate parsing.
// Run after `npm run build`: they import dist/.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { createProof, generateDpopKey, htuOf, jwkThumbprint, parseWwwAuthenticate, relevantChallenge } from "../dist/index.js";

const decode = (part) => JSON.parse(Buffer.from(part, "base64url").toString());

describe("DPoP proofs (RFC 9449 §4.2)", () => {
  test("the private key is not extractable; the public JWK has only the thumbprint members", async () => {
    const key = await generateDpopKey();
    assert.equal(key.privateKey.extractable, false);
    await assert.rejects(crypto.subtle.exportKey("pkcs8", key.privateKey));
    assert.deepEqual(Object.keys(key.publicJwk).sort(), ["crv", "kty", "x", "y"]);
    assert.match(key.jkt, /^[A-Za-z0-9_-]{43}$/);
  });

  test("rfc7638_s3: the thumbprint hashes the required members in lexicographic order", async () => {
    const jwk = { kty: "EC", crv: "P-256", x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" };
    const expected = Buffer.from(
      await crypto.subtle.digest("SHA-256", Buffer.from(`{"crv":"P-256","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`)),
    ).toString("base64url");
    assert.equal(await jwkThumbprint(jwk), expected);
  });

  test("a proof has typ dpop+jwt, ES256, the public jwk, htm/htu/iat/jti, nonce and ath, and verifies", async () => {
    const key = await generateDpopKey();
    const token = "an-access-token";
    const proof = await createProof(key, { method: "get", url: "https://api.example/r?q=1#f", nonce: "n1", accessToken: token });
    const [h, c, s] = proof.split(".");
    const header = decode(h);
    const claims = decode(c);
    assert.deepEqual(header, { typ: "dpop+jwt", alg: "ES256", jwk: key.publicJwk });
    assert.equal(claims.htm, "GET");
    assert.equal(claims.htu, "https://api.example/r", "htu has no query or fragment");
    assert.equal(claims.nonce, "n1");
    const ath = Buffer.from(await crypto.subtle.digest("SHA-256", Buffer.from(token))).toString("base64url");
    assert.equal(claims.ath, ath);
    assert.ok(Math.abs(claims.iat - Date.now() / 1000) < 5);
    assert.match(claims.jti, /^[A-Za-z0-9_-]{16,}$/);
    const ok = await crypto.subtle.verify(
      { name: "ECDSA", hash: "SHA-256" },
      key.publicKey,
      Buffer.from(s, "base64url"),
      Buffer.from(`${h}.${c}`),
    );
    assert.equal(ok, true);
    const again = decode((await createProof(key, { method: "GET", url: "https://api.example/r" })).split(".")[1]);
    assert.notEqual(again.jti, claims.jti, "a new jti per proof");
    assert.equal(again.nonce, undefined);
    assert.equal(again.ath, undefined);
  });

  test("clock skew moves iat", async () => {
    const key = await generateDpopKey();
    const claims = decode((await createProof(key, { method: "POST", url: "https://as/t/x/token", clockSkewSeconds: -120 })).split(".")[1]);
    assert.ok(Math.abs(claims.iat - (Date.now() / 1000 - 120)) < 5);
  });

  test("htuOf keeps scheme, host, port and path", () => {
    assert.equal(htuOf("http://127.0.0.1:5173/api/hello?x=1#y"), "http://127.0.0.1:5173/api/hello");
    assert.equal(htuOf("https://Example.COM/a/b"), "https://example.com/a/b");
  });
});

describe("WWW-Authenticate (RFC 9110 §11.6.1)", () => {
  test("several challenges with quoted and token parameters", () => {
    const header = 'Bearer realm="holdfast-example", DPoP realm="x", algs="ES256 EdDSA", error="use_dpop_nonce", error_description="a \\"nonce\\" is needed"';
    assert.deepEqual(parseWwwAuthenticate(header), [
      { scheme: "bearer", params: { realm: "holdfast-example" } },
      { scheme: "dpop", params: { realm: "x", algs: "ES256 EdDSA", error: "use_dpop_nonce", error_description: 'a "nonce" is needed' } },
    ]);
  });

  test("rfc9470_s3: the step-up challenge and its max_age", () => {
    const c = relevantChallenge('DPoP algs="ES256", error="insufficient_user_authentication", error_description="a more recent authentication is required", max_age=300');
    assert.equal(c.scheme, "dpop");
    assert.equal(c.params.error, "insufficient_user_authentication");
    assert.equal(c.params.max_age, "300");
  });

  test("the challenge with an error wins; empty headers give nothing", () => {
    assert.equal(relevantChallenge('Bearer realm="a", DPoP algs="ES256"').scheme, "dpop");
    assert.equal(relevantChallenge('Bearer error="invalid_token", DPoP algs="ES256"').params.error, "invalid_token");
    assert.deepEqual(parseWwwAuthenticate(null), []);
    assert.equal(relevantChallenge(""), undefined);
  });
});
