// The demo app: plain DOM code around the SDK (`/sdk/index.js`, the built
// clients/js package). Every Holdfast call goes through `client`.

import { HoldfastClient, LoginRequiredError, StepUpRequiredError, TransientError } from "/sdk/index.js";

const $ = (id) => document.getElementById(id);

const config = await (await fetch("/config.json", { cache: "no-store" })).json();
const client = new HoldfastClient({
  issuer: config.issuer,
  clientId: config.clientId,
  scope: config.scope,
  refreshTokenStorage: config.refreshTokenStorage,
  redirectUri: `${location.origin}/callback`,
});
// For poking around in the console (and for the browser tests).
window.holdfast = client;

function status(text, kind = "info") {
  $("status").textContent = text;
  $("status").dataset.kind = kind;
}

function describe(error) {
  if (error instanceof LoginRequiredError) return "Your session has ended. Please sign in again.";
  if (error instanceof TransientError) return `Holdfast is unreachable right now (${error.message}); you are still signed in.`;
  return error?.message ?? String(error);
}

/** Runs an action from a button, showing what went wrong. */
async function action(fn) {
  try {
    await fn();
  } catch (e) {
    console.error(e);
    status(describe(e), "error");
    if (e instanceof LoginRequiredError) showSignedOut();
  }
}

function showSignedOut() {
  $("signed-in").hidden = true;
  $("signed-out").hidden = false;
  $("devices").querySelector("tbody").replaceChildren();
  $("api-result").textContent = "";
  delete $("api-result").dataset.status;
  $("whoami").textContent = "-";
}

async function showSignedIn() {
  // Make sure we hold an access token (from another tab, or a refresh).
  await client.getAccessToken();
  const session = client.getSession();
  const user = client.getUser();
  const key = await client.getKeyInfo();
  $("user-name").textContent = user?.preferred_username ?? user?.sub ?? "?";
  $("session-sid").textContent = session?.sid ?? "-";
  $("token-type").textContent = session?.tokenType ?? "-";
  $("key-jkt").textContent = key?.jkt ?? "-";
  $("key-extractable").textContent = String(key?.extractable ?? "-");
  $("lock-mechanism").textContent = client.lockMechanism;
  $("signed-out").hidden = true;
  $("signed-in").hidden = false;
  status("Signed in.", "ok");
}

async function callApi() {
  $("api-result").textContent = "…";
  try {
    // Holdfast's UserInfo checks the session on every call, so a device
    // signed out elsewhere learns it here at once. The example API alone
    // would accept the access token until it expires: it does not follow
    // Holdfast's revocation feed yet.
    const me = await client.userinfo();
    $("whoami").textContent = String(me.preferred_username ?? me.sub);
    const res = await client.authFetch("/api/hello");
    const text = await res.text();
    let shown = text;
    try {
      shown = JSON.stringify(JSON.parse(text), null, 2);
    } catch {}
    const challenge = res.ok ? "" : `\nWWW-Authenticate: ${res.headers.get("WWW-Authenticate") ?? "-"}`;
    const hint = /htu/.test(challenge)
      ? `\n(The API checks proofs against its own URL: start it with --public-url ${location.origin})`
      : "";
    $("api-result").textContent = `HTTP ${res.status}\n${shown}${challenge}${hint}`;
    $("api-result").dataset.status = String(res.status);
    status(res.ok ? "The API answered." : `The API refused: HTTP ${res.status}`, res.ok ? "ok" : "error");
  } catch (e) {
    $("api-result").textContent = "";
    if (e instanceof StepUpRequiredError) {
      status("The API wants a fresh login.", "error");
      await client.signInWithRedirect({ maxAge: e.maxAge, prompt: "login" });
    }
    throw e;
  }
}

/** Shows the answer to the critical call. */
async function showCritical(res) {
  const text = await res.text();
  let shown = text;
  try {
    shown = JSON.stringify(JSON.parse(text), null, 2);
  } catch {}
  $("critical-result").textContent = `HTTP ${res.status}\n${shown}`;
  $("critical-result").dataset.status = String(res.status);
  status(res.ok ? "Record 42 deleted." : `The API refused: HTTP ${res.status}`, res.ok ? "ok" : "error");
}

/**
 * The critical call. `stepUp` tells the SDK what to do with the API's
 * RFC 9470 challenge: sign in again in a popup and retry here, or go
 * through a redirect and retry when the callback is handled.
 */
async function deleteRecord(stepUp) {
  $("critical-result").textContent = "…";
  delete $("critical-result").dataset.status;
  await showCritical(await client.authFetch("/api/records/42", { method: "DELETE" }, { stepUp }));
}

function when(epochSeconds) {
  return epochSeconds ? new Date(epochSeconds * 1000).toLocaleString() : "-";
}

async function listDevices() {
  const sessions = await client.listSessions();
  const rows = sessions.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.sid = s.sid;
    if (s.current) tr.classList.add("current");
    const cells = [
      s.current ? "This device" : `Device ${String(s.device_id ?? s.sid).slice(0, 8)}`,
      s.user_agent ?? "-",
      when(s.created_at),
      when(s.last_used_at),
    ];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    const td = document.createElement("td");
    if (!s.current) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "revoke danger";
      button.textContent = "Sign out";
      button.addEventListener("click", () =>
        action(async () => {
          await client.revokeSession(s.sid);
          status("That device is signed out.", "ok");
          await listDevices();
        }),
      );
      td.append(button);
    }
    tr.append(td);
    return tr;
  });
  $("devices").querySelector("tbody").replaceChildren(...rows);
  $("devices").dataset.count = String(sessions.length);
  status(`${sessions.length} signed-in device${sessions.length === 1 ? "" : "s"}.`, "ok");
}

$("sign-in-hosted").addEventListener("click", () => action(() => client.signInWithRedirect()));
// OpenID Connect prompt=create: Holdfast shows its sign-up page (where the
// tenant's registration is open) and the sign-in goes on from there.
$("sign-up-hosted").addEventListener("click", () => action(() => client.signInWithRedirect({ prompt: "create" })));

$("password-form").addEventListener("submit", (event) => {
  event.preventDefault();
  action(async () => {
    status("Signing in…");
    await client.signInWithPassword($("username").value, $("password").value);
    $("password").value = "";
    await showSignedIn();
  });
});

$("call-api").addEventListener("click", () => action(callApi));
$("delete-record").addEventListener("click", () => action(() => deleteRecord("popup")));
$("delete-record-redirect").addEventListener("click", () => action(() => deleteRecord("redirect")));
$("list-devices").addEventListener("click", () => action(listDevices));
$("revoke-others").addEventListener("click", () =>
  action(async () => {
    const n = await client.revokeOtherSessions();
    status(`Signed out ${n} other device${n === 1 ? "" : "s"}.`, "ok");
    await listDevices();
  }),
);
$("sign-out").addEventListener("click", () =>
  action(async () => {
    // Ends the hosted single sign-on session too: the browser goes through
    // Holdfast's end-session endpoint and comes back with state=signed-out.
    await client.signOut({ state: "signed-out" });
    showSignedOut();
    status("Signed out.", "ok");
  }),
);

client.addEventListener("signedout", (event) => {
  showSignedOut();
  const reason = event.detail?.reason;
  status(reason === "signed_out" ? "Signed out." : reason === "other_tab" ? "Signed out in another tab." : "Your session has ended. Please sign in again.", "info");
});
// A sign-in here or in another tab of this browser (the SDK shares it).
client.addEventListener("signedin", () => action(showSignedIn));

// Start: finish a hosted sign-in, or pick up the session this browser has.
await action(async () => {
  if (client.isRedirectCallback()) {
    status("Completing sign-in…");
    let done;
    try {
      done = await client.handleRedirectCallback();
    } finally {
      history.replaceState(null, "", "/");
    }
    await showSignedIn();
    // Back from a step-up by redirect: the SDK has sent the refused call again.
    if (done.stepUpResponse) await showCritical(done.stepUpResponse);
    if (done.stepUpError) throw done.stepUpError;
  } else if (await client.isSignedIn()) {
    await showSignedIn();
  } else if (new URLSearchParams(location.search).get("state") === "signed-out") {
    // Back from Holdfast's end-session endpoint.
    history.replaceState(null, "", "/");
    showSignedOut();
    status("Signed out.", "ok");
    document.body.dataset.returned = "signed-out";
  } else {
    showSignedOut();
    status("Not signed in.");
  }
});
document.body.dataset.ready = "true";
