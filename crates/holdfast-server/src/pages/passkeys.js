// Passkeys on Holdfast's hosted pages (WebAuthn Level 3). The one script
// the pages load; everything else works without it.
//
// A form marked `data-passkey="create"` (account page: add a passkey) or
// `data-passkey="get"` (login page, second step) carries the server's
// options in `data-options` (JSON, binary fields base64url) and a sealed
// `passkey_state`. Its `[data-passkey-start]` button runs the ceremony;
// the credential goes back, base64url-encoded as webauthn-rs reads it,
// in the hidden `passkey_credential` field of the same form, which is then
// submitted. On the login page an `autocomplete="... webauthn"` username
// field also offers passkeys in its autofill (conditional mediation,
// §5.1.4.1).
(() => {
  "use strict";

  const fromB64u = (s) => {
    const b = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
    return Uint8Array.from(b, (c) => c.charCodeAt(0)).buffer;
  };
  const toB64u = (buf) => {
    let s = "";
    for (const byte of new Uint8Array(buf)) s += String.fromCharCode(byte);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const withIds = (list) => (list ?? []).map((c) => ({ ...c, id: fromB64u(c.id) }));

  const creationOptions = (o) => ({
    ...o,
    challenge: fromB64u(o.challenge),
    user: { ...o.user, id: fromB64u(o.user.id) },
    excludeCredentials: withIds(o.excludeCredentials),
  });
  const requestOptions = (o) => ({
    ...o,
    challenge: fromB64u(o.challenge),
    allowCredentials: withIds(o.allowCredentials),
  });

  const extensions = (cred) => {
    try {
      return cred.getClientExtensionResults();
    } catch {
      return {};
    }
  };
  const registrationJson = (cred) => ({
    id: cred.id,
    rawId: toB64u(cred.rawId),
    type: cred.type,
    response: {
      attestationObject: toB64u(cred.response.attestationObject),
      clientDataJSON: toB64u(cred.response.clientDataJSON),
      transports: typeof cred.response.getTransports === "function" ? cred.response.getTransports() : [],
    },
    extensions: extensions(cred),
  });
  const assertionJson = (cred) => ({
    id: cred.id,
    rawId: toB64u(cred.rawId),
    type: cred.type,
    response: {
      authenticatorData: toB64u(cred.response.authenticatorData),
      clientDataJSON: toB64u(cred.response.clientDataJSON),
      signature: toB64u(cred.response.signature),
      userHandle: cred.response.userHandle ? toB64u(cred.response.userHandle) : null,
    },
    extensions: extensions(cred),
  });

  const say = (form, text) => {
    const p = form.querySelector("[data-passkey-error]");
    if (!p) return;
    p.textContent = text;
    p.hidden = !text;
  };
  const send = (form, json) => {
    form.querySelector('input[name="passkey_credential"]').value = JSON.stringify(json);
    form.submit();
  };
  const failed = (form, e) => {
    if (e && e.name === "AbortError") return;
    say(form, e && e.name === "NotAllowedError"
      ? "The passkey request was cancelled or timed out."
      : e && e.name === "InvalidStateError"
        ? "This passkey is registered already."
        : "The passkey could not be used.");
  };

  function setUp(form) {
    const options = JSON.parse(form.dataset.options).publicKey;
    const button = form.querySelector("[data-passkey-start]");
    form.hidden = false;
    if (form.dataset.passkey === "create") {
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        say(form, "");
        navigator.credentials
          .create({ publicKey: creationOptions(options) })
          .then((cred) => send(form, registrationJson(cred)), (e) => failed(form, e));
      });
      return;
    }
    let pending = null;
    const get = (mediation) => {
      pending?.abort();
      pending = new AbortController();
      const request = { publicKey: requestOptions(options), signal: pending.signal };
      if (mediation) request.mediation = mediation;
      return navigator.credentials.get(request).then((cred) => {
        if (cred) send(form, assertionJson(cred));
      }, (e) => failed(form, e));
    };
    button?.addEventListener("click", () => {
      say(form, "");
      get(null);
    });
    const autofill = document.querySelector('input[autocomplete~="webauthn"]');
    if (autofill && typeof PublicKeyCredential.isConditionalMediationAvailable === "function") {
      PublicKeyCredential.isConditionalMediationAvailable().then((yes) => {
        if (yes && !pending) get("conditional");
      }, () => {});
    }
  }

  const start = () => {
    if (!window.PublicKeyCredential || !navigator.credentials) return;
    for (const form of document.querySelectorAll("form[data-passkey]")) setUp(form);
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
