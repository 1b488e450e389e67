// The Holdfast admin console: plain DOM code on the admin API (/admin/v1).
// Every call goes through the browser SDK's authFetch: a DPoP-bound token of
// the administration tenant, a fresh proof per request, the nonce handled.

import { HoldfastClient, LoginRequiredError } from "/admin/sdk/index.js";

const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
const client = new HoldfastClient({
  issuer: meta("holdfast-issuer"),
  clientId: meta("holdfast-client-id"),
  scope: "openid profile holdfast:admin",
  redirectUri: meta("holdfast-console-url"),
});
window.holdfast = client;

const $ = (id) => document.getElementById(id);

/** `h("td", { class: "x" }, "text", child)`: an element. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function status(text, kind = "info") {
  $("status").textContent = text;
  $("status").dataset.kind = kind;
}

const when = (s) => (s ? new Date(s * 1000).toLocaleString() : "-");

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error_description ?? body?.error ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error;
  }
}

/** One admin API call: `{ body, etag }`, or an ApiError. */
async function api(method, path, body, headers = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const res = await client.authFetch(`/admin/v1${path}`, init);
  const text = await res.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!res.ok) throw new ApiError(res.status, parsed);
  return { body: parsed, etag: res.headers.get("ETag") };
}

/** Runs a button's action, showing what went wrong. */
async function action(fn, done) {
  try {
    status("…");
    await fn();
    if (done) status(done, "ok");
    // An action that said something itself keeps it.
    else if ($("status").textContent === "…") status("");
  } catch (e) {
    console.error(e);
    if (e instanceof LoginRequiredError) {
      showSignedOut();
      status("Your session has ended. Please sign in again.", "error");
      return;
    }
    status(e.message ?? String(e), "error");
  }
}

const state = { tenant: undefined, view: "clients", me: undefined };
const t = () => encodeURIComponent(state.tenant);

function showSignedOut() {
  $("app").hidden = true;
  $("sign-out").hidden = true;
  $("signed-out").hidden = false;
  $("whoami").textContent = "";
}

async function showSignedIn() {
  const { body: me } = await api("GET", "/me");
  state.me = me;
  $("whoami").textContent = `${me.actor}${me.server_admin ? " · whole server" : ""}`;
  const { body: tenants } = await api("GET", "/tenants");
  const pick = $("tenant");
  pick.replaceChildren(...tenants.items.map((x) => h("option", { value: x.slug }, `${x.display_name} (${x.slug})`)));
  const remembered = sessionStorage.getItem("holdfast-console-tenant");
  const slugs = tenants.items.map((x) => x.slug);
  state.tenant = slugs.includes(remembered) ? remembered : slugs.find((s) => s !== "admin") ?? slugs[0];
  pick.value = state.tenant ?? "";
  $("signed-out").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = false;
  await show(state.view);
}

async function show(view) {
  state.view = view;
  for (const b of document.querySelectorAll("nav [data-view]")) {
    if (b.dataset.view === view) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  const target = $("view");
  target.replaceChildren(h("p", { class: "hint" }, "Loading…"));
  if (!state.tenant && view !== "tenants") {
    target.replaceChildren(h("p", {}, "No tenant to administer."));
    return;
  }
  const node = await VIEWS[view]();
  target.replaceChildren(node);
  target.dataset.view = view;
}

// ---- generic settings forms -------------------------------------------

/**
 * A form for `fields` ([name, type, label, options]) filled from `current`;
 * on submit, `save(changes)` gets only the fields that changed.
 */
function settingsForm(id, fields, current, save, extraActions = []) {
  const inputs = {};
  const rows = [];
  for (const [name, type, label, options] of fields) {
    const inputId = `${id}-${name}`;
    let input;
    const value = current[name];
    if (type === "bool") {
      input = h("input", { type: "checkbox", id: inputId, name });
      input.checked = Boolean(value);
    } else if (type === "list") {
      input = h("textarea", { id: inputId, name, rows: 3 });
      input.value = (value ?? []).join("\n");
    } else if (type === "choice") {
      input = h("select", { id: inputId, name }, options.map((o) => h("option", { value: o }, o)));
      input.value = value ?? options[0];
    } else {
      input = h("input", { type: type === "int" ? "number" : "text", id: inputId, name });
      input.value = value ?? "";
    }
    inputs[name] = [type, input];
    rows.push(h("label", { for: inputId }, label), input);
  }
  const form = h("form", { class: "fields", id }, rows, h("div", { class: "actions" }, h("button", { type: "submit" }, "Save"), extraActions));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const changes = {};
    for (const [name, [type, input]] of Object.entries(inputs)) {
      let v;
      if (type === "bool") v = input.checked;
      else if (type === "list") v = input.value.split(/\s*\n\s*/).map((s) => s.trim()).filter(Boolean);
      else if (type === "int") v = input.value === "" ? null : Number(input.value);
      else v = input.value;
      const before = current[name];
      const same = Array.isArray(v) ? JSON.stringify(v) === JSON.stringify(before ?? []) : v === (before ?? (type === "text" ? "" : before));
      if (!same) changes[name] = v;
    }
    action(() => save(changes));
  });
  return form;
}

function table(headers, rows, empty = "Nothing here yet.") {
  if (rows.length === 0) return h("p", { class: "hint" }, empty);
  return h("div", { class: "table" }, h("table", {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))), h("tbody", {}, rows)));
}

function secretBox(label, secret) {
  return h("div", { class: "secret", id: "secret-once" }, h("strong", {}, label), " (shown once, copy it now): ", h("code", { class: "mono", id: "secret-value" }, secret));
}

// ---- views ---------------------------------------------------------------

const GRANTS = ["authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code"];
const CLIENT_FIELDS = [
  ["display_name", "text", "Display name"],
  ["redirect_uris", "list", "Redirect URIs (one per line)"],
  ["grant_types", "list", `Grant types (${GRANTS.join(", ")})`],
  ["scopes", "list", "Scopes"],
  ["allowed_origins", "list", "Allowed origins (CORS)"],
  ["resources", "list", "Resource indicators (RFC 8707)"],
  ["access_token_ttl", "int", "Access-token lifetime (s)"],
  ["rotation", "choice", "Refresh rotation", ["confirmed", "strict", "none"]],
  ["grace_window", "int", "Grace window (s)"],
  ["retry_limit", "int", "Grace retries"],
  ["idle_lifetime", "int", "Idle lifetime (s)"],
  ["absolute_lifetime", "int", "Absolute lifetime (s)"],
  ["unbound_grace_accept_risk", "bool", "Grace for unbound tokens (accept the risk)"],
  ["dpop_required", "bool", "Require DPoP"],
  ["dpop_nonce_required", "bool", "Require DPoP nonce"],
  ["refresh_token_cookie", "bool", "Refresh token in a cookie"],
  ["mfa_required", "bool", "Require a second factor"],
  ["id_token_signed_response_alg", "choice", "ID token algorithm", ["ES256", "EdDSA", "RS256"]],
  ["backchannel_logout_uri", "text", "Back-channel logout URI"],
  ["backchannel_logout_session_required", "bool", "Back-channel logout needs sid"],
];

async function clientsView() {
  const { body } = await api("GET", `/tenants/${t()}/clients`);
  const rows = body.items.map((c) =>
    h("tr", { dataset: { clientId: c.client_id } },
      h("td", {}, h("code", {}, c.client_id)),
      h("td", {}, c.display_name ?? ""),
      h("td", {}, c.kind),
      h("td", { class: "hide-narrow" }, c.grant_types.join(", ")),
      h("td", {}, h("button", { type: "button", class: "quiet edit", onclick: () => action(() => clientView(c.client_id)) }, "Edit"))));
  const create = h("form", { class: "inline", id: "new-client" },
    h("label", {}, "Client ID", h("input", { name: "client_id", required: true })),
    h("label", {}, "Kind", h("select", { name: "kind" }, h("option", { value: "public" }, "public (SPA, mobile)"), h("option", { value: "confidential" }, "confidential (server)"))),
    h("label", {}, "Redirect URI", h("input", { name: "redirect_uri", type: "url" })),
    h("label", {}, "Scopes", h("input", { name: "scopes", value: "openid profile" })),
    h("button", { type: "submit" }, "Create client"));
  create.addEventListener("submit", (e) => {
    e.preventDefault();
    const f = new FormData(create);
    const input = {
      client_id: f.get("client_id").trim(),
      kind: f.get("kind"),
      scopes: f.get("scopes").split(/\s+/).filter(Boolean),
    };
    const redirect = f.get("redirect_uri").trim();
    if (redirect) input.redirect_uris = [redirect];
    if (input.kind === "confidential" && !redirect) input.grant_types = ["client_credentials"];
    action(async () => {
      const { body: made } = await api("POST", `/tenants/${t()}/clients`, input);
      await clientView(made.client_id, made.client_secret);
      status(`Created client ${made.client_id}.`, "ok");
    });
  });
  return h("div", {}, h("h2", {}, "Clients"), table(["Client ID", "Name", "Kind", "Grants", ""], rows), h("h3", {}, "New client"), create);
}

async function clientView(clientId, secretOnce) {
  const path = `/tenants/${t()}/clients/${encodeURIComponent(clientId)}`;
  const { body: c, etag } = await api("GET", path);
  const rotate = c.kind === "confidential"
    ? h("button", { type: "button", class: "quiet", id: "rotate-secret", onclick: () => action(async () => {
        const { body: s } = await api("POST", `${path}/secret`);
        await clientView(clientId, s.client_secret);
      }, "New secret issued; the old one no longer works.") }, "Rotate secret")
    : null;
  const remove = h("button", { type: "button", class: "danger", onclick: () => {
    if (!confirm(`Delete client ${clientId}? Its sessions end.`)) return;
    action(async () => {
      await api("DELETE", path);
      await show("clients");
    }, `Deleted client ${clientId}.`);
  } }, "Delete");
  const form = settingsForm("client-form", CLIENT_FIELDS, c, async (changes) => {
    if (Object.keys(changes).length === 0) {
      status("Nothing changed.");
      return;
    }
    try {
      await api("PATCH", path, changes, { "If-Match": etag });
    } catch (e) {
      if (e.status === 412) {
        await clientView(clientId);
        throw new Error("Someone else changed this client meanwhile: it is shown as it is now; apply your change again.");
      }
      throw e;
    }
    await clientView(clientId);
    status(`Saved ${clientId}.`, "ok");
  }, [rotate, remove]);
  $("view").replaceChildren(h("div", { id: "client-detail", dataset: { clientId, version: c.version } },
    h("p", {}, h("button", { type: "button", class: "quiet", onclick: () => action(() => show("clients")) }, "← Clients")),
    h("h2", {}, `Client ${clientId}`, " ", h("span", { class: "hint" }, `${c.kind}, version ${c.version}, created ${when(c.created_at)}`)),
    secretOnce ? secretBox("Client secret", secretOnce) : null,
    form));
}

async function usersView(query = "") {
  const { body } = await api("GET", `/tenants/${t()}/users?q=${encodeURIComponent(query)}&limit=50`);
  const rows = body.items.map((u) =>
    h("tr", { dataset: { username: u.username } },
      h("td", {}, u.username),
      h("td", { class: "hide-narrow" }, u.email ?? ""),
      h("td", {}, u.disabled_at ? "disabled" : "active"),
      h("td", { class: "hide-narrow" }, when(u.created_at)),
      h("td", {}, h("button", { type: "button", class: "quiet open", onclick: () => action(() => userView(u.id)) }, "Open"))));
  const search = h("form", { class: "inline", id: "user-search" },
    h("label", {}, "Search", h("input", { name: "q", type: "search", value: query, placeholder: "username or email" })),
    h("button", { type: "submit" }, "Search"));
  search.addEventListener("submit", (e) => {
    e.preventDefault();
    action(async () => $("view").replaceChildren(await usersView(new FormData(search).get("q"))));
  });
  const create = h("form", { class: "inline", id: "new-user" },
    h("label", {}, "Username", h("input", { name: "username", required: true })),
    h("label", {}, "Email", h("input", { name: "email", type: "email" })),
    h("label", {}, "Password", h("input", { name: "password", type: "password", required: true, autocomplete: "new-password" })),
    h("button", { type: "submit" }, "Create user"));
  create.addEventListener("submit", (e) => {
    e.preventDefault();
    const f = new FormData(create);
    const input = { username: f.get("username"), password: f.get("password") };
    if (f.get("email")) input.email = f.get("email");
    action(async () => {
      await api("POST", `/tenants/${t()}/users`, input);
      $("view").replaceChildren(await usersView(input.username));
    }, `Created user ${input.username}.`);
  });
  const invite = h("form", { class: "inline", id: "invite-user" },
    h("label", {}, "Email", h("input", { name: "email", type: "email", required: true })),
    h("label", {}, "Name", h("input", { name: "name" })),
    h("button", { type: "submit" }, "Invite"));
  invite.addEventListener("submit", (e) => {
    e.preventDefault();
    const f = new FormData(invite);
    const input = { email: f.get("email") };
    if (f.get("name")) input.name = f.get("name");
    action(async () => {
      await api("POST", `/tenants/${t()}/invitations`, input);
      $("view").replaceChildren(await usersView(input.email));
    }, `Invited ${input.email}: the link to choose a password is in the mail queue.`);
  });
  return h("div", {}, h("h2", {}, "Users"), search, table(["Username", "Email", "State", "Created", ""], rows, "No users match."),
    h("h3", {}, "New user"), create, h("h3", {}, "Invite by email"), invite);
}

async function userView(userId) {
  const path = `/tenants/${t()}/users/${encodeURIComponent(userId)}`;
  const [{ body: u }, { body: sessions }] = await Promise.all([api("GET", path), api("GET", `${path}/sessions`)]);
  const toggle = h("button", { type: "button", class: u.disabled_at ? "" : "danger", id: "toggle-disabled", onclick: () => action(async () => {
    await api("PATCH", path, { disabled: !u.disabled_at });
    await userView(userId);
  }, u.disabled_at ? "Enabled." : "Disabled; their sessions ended.") }, u.disabled_at ? "Enable" : "Disable");
  const reset = h("button", { type: "button", class: "quiet", id: "send-reset", disabled: !u.email || u.disabled_at != null, onclick: () => action(() => api("POST", `${path}/password-reset`), `Password-reset mail queued for ${u.email}.`) }, "Send password reset");
  const rows = sessions.items.map((s) =>
    h("tr", { dataset: { sid: s.id } },
      h("td", {}, h("code", {}, s.id.slice(0, 12))),
      h("td", {}, s.client_id),
      h("td", { class: "hide-narrow" }, s.user_agent ?? "-"),
      h("td", { class: "hide-narrow" }, when(s.created_at)),
      h("td", {}, when(s.last_used_at)),
      h("td", {}, h("button", { type: "button", class: "danger revoke", onclick: () => action(async () => {
        await api("DELETE", `/tenants/${t()}/sessions/${encodeURIComponent(s.id)}`);
        await userView(userId);
      }, "Session revoked: its refresh token no longer works.") }, "Revoke"))));
  $("view").replaceChildren(h("div", { id: "user-detail", dataset: { userId } },
    h("p", {}, h("button", { type: "button", class: "quiet", onclick: () => action(() => show("users")) }, "← Users")),
    h("h2", {}, u.username, " ", h("span", { class: "hint" }, u.disabled_at ? `disabled ${when(u.disabled_at)}` : "active")),
    h("p", {}, `Email: ${u.email ?? "none"}${u.email ? (u.email_verified ? " (verified)" : " (not verified)") : ""} · created ${when(u.created_at)}`),
    h("div", { class: "row-actions" }, toggle, reset),
    h("h3", {}, "Sessions"),
    table(["Session", "Client", "Device", "Started", "Last used", ""], rows, "No live sessions.")));
}

async function keysView() {
  const { body } = await api("GET", `/tenants/${t()}/keys`);
  const rows = body.items.map((k) =>
    h("tr", {}, h("td", {}, h("code", {}, k.kid)), h("td", {}, k.alg), h("td", {}, k.state), h("td", { class: "hide-narrow" }, when(k.created_at))));
  const rotate = h("button", { type: "button", id: "rotate-keys", onclick: () => {
    if (!confirm("Rotate the signing keys? The next key becomes current; tokens signed by the old one stay valid until they expire.")) return;
    action(async () => {
      await api("POST", `/tenants/${t()}/keys/rotate`);
      await show("keys");
    }, "Keys rotated.");
  } }, "Rotate keys");
  return h("div", {}, h("h2", {}, "Signing keys"), table(["Key ID", "Algorithm", "State", "Created"], rows), rotate);
}

async function eventsView() {
  const filters = h("form", { class: "inline", id: "event-filters" },
    h("label", {}, "Kind", h("input", { name: "kind", placeholder: "login_failed" })),
    h("label", {}, "User ID", h("input", { name: "user_id" })),
    h("label", {}, "Client ID", h("input", { name: "client_id" })),
    h("label", {}, "Since", h("input", { name: "since", type: "datetime-local" })),
    h("button", { type: "submit" }, "Filter"));
  const body = h("tbody");
  const more = h("button", { type: "button", class: "quiet", id: "more-events", hidden: true }, "Older events");
  let cursor;
  const load = async (reset) => {
    const f = new FormData(filters);
    const q = new URLSearchParams({ limit: "50" });
    for (const k of ["kind", "user_id", "client_id"]) if (f.get(k)) q.set(k, f.get(k));
    if (f.get("since")) q.set("since", String(Math.floor(new Date(f.get("since")).getTime() / 1000)));
    if (!reset && cursor) q.set("cursor", cursor);
    const { body: page } = await api("GET", `/tenants/${t()}/events?${q}`);
    if (reset) body.replaceChildren();
    for (const e of page.items) {
      body.append(h("tr", {}, h("td", {}, when(e.at)), h("td", {}, e.kind), h("td", {}, e.reason ?? ""), h("td", {}, e.actor ?? ""),
        h("td", { class: "hide-narrow" }, e.client_id ?? ""), h("td", { class: "hide-narrow" }, h("code", {}, e.user_id ?? "")), h("td", { class: "hide-narrow" }, e.ip ?? "")));
    }
    cursor = page.next_cursor;
    more.hidden = !cursor;
  };
  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    action(() => load(true));
  });
  more.addEventListener("click", () => action(() => load(false)));
  await load(true);
  return h("div", {}, h("h2", {}, "Audit log"), filters,
    h("div", { class: "table" }, h("table", {}, h("thead", {}, h("tr", {}, ["When", "Kind", "Reason", "Actor", "Client", "User", "IP"].map((x) => h("th", {}, x)))), body)), more);
}

const SETTINGS_FIELDS = [
  ["display_name", "text", "Display name"],
  ["registration", "choice", "Registration", ["closed", "open", "invite"]],
  ["email_verification", "choice", "Email verification", ["optional", "required"]],
  ["mfa", "choice", "Second factor", ["optional", "required"]],
  ["password_min_length", "int", "Password: fewest characters"],
  ["password_max_length", "int", "Password: most characters"],
  ["password_blocklist", "bool", "Refuse common passwords"],
  ["passkey_rp_id", "text", "Passkey relying-party ID"],
  ["logo_url", "text", "Branding: logo URL (https)"],
  ["accent_color", "text", "Branding: accent colour (#rrggbb)"],
  ["support_url", "text", "Branding: support link (https or mailto:)"],
];

const THROTTLE_FIELDS = [
  ["pair_max_failures", "int", "Failures per account and address"],
  ["pair_window_secs", "int", "… in a window of (seconds)"],
  ["account_delay_after", "int", "Failures per account before each attempt waits"],
  ["account_max_delay_secs", "int", "Longest wait (seconds)"],
  ["account_max_failures", "int", "Failures per account (at most 100 an hour)"],
  ["account_window_secs", "int", "… in a window of (seconds)"],
  ["address_max_failures", "int", "Failures per address across accounts"],
  ["address_window_secs", "int", "… in a window of (seconds)"],
  ["known_address_secs", "int", "An address that signed in is exempt for (seconds)"],
];

/** Runs `change` (a PATCH or DELETE with `If-Match`), then shows the settings again; a 412 says why. */
async function conditional(change, done) {
  try {
    await change();
  } catch (e) {
    if (e.status === 412) {
      await show("settings");
      throw new Error("Someone else changed these settings meanwhile: they are shown as they are now; apply your change again.");
    }
    throw e;
  }
  await show("settings");
  status(done, "ok");
}

/** The tenant's sign-in limits (brute-force defence): its own, or the server's. */
async function throttleForm() {
  const path = `/tenants/${t()}/throttle`;
  const { body: limits, etag } = await api("GET", path);
  const reset = h("button", { type: "button", class: "quiet", id: "throttle-reset", disabled: !limits.own, onclick: () => action(() =>
    conditional(() => api("DELETE", path, undefined, { "If-Match": etag }), "The server's sign-in limits apply.")) }, "Use the server's limits");
  const form = settingsForm("throttle-form", THROTTLE_FIELDS, limits, async (changes) => {
    if (Object.keys(changes).length === 0) {
      status("Nothing changed.");
      return;
    }
    await conditional(() => api("PATCH", path, changes, { "If-Match": etag }), "Sign-in limits saved.");
  }, [reset]);
  return h("div", {}, h("h3", {}, "Sign-in limits"),
    h("p", { class: "hint", id: "throttle-source" }, limits.own ? "This tenant's own limits." : "The server's limits (no limits of its own)."), form);
}

async function settingsView() {
  const path = `/tenants/${t()}/settings`;
  const { body: s, etag } = await api("GET", path);
  const form = settingsForm("settings-form", SETTINGS_FIELDS, s, async (changes) => {
    if (Object.keys(changes).length === 0) {
      status("Nothing changed.");
      return;
    }
    await conditional(() => api("PATCH", path, changes, { "If-Match": etag }), "Settings saved.");
  });
  return h("div", {}, h("h2", {}, `Settings of ${state.tenant}`), form, await throttleForm());
}

async function tenantsView() {
  const { body } = await api("GET", "/tenants");
  const rows = body.items.map((x) =>
    h("tr", { dataset: { slug: x.slug } }, h("td", {}, h("code", {}, x.slug)), h("td", {}, x.display_name), h("td", {}, x.signing_alg),
      h("td", { class: "hide-narrow" }, h("code", {}, x.issuer)),
      h("td", {}, x.administration ? "" : h("button", { type: "button", class: "danger", onclick: () => {
        if (!confirm(`Delete tenant ${x.slug} with all its clients, users, sessions and keys?`)) return;
        action(async () => {
          await api("DELETE", `/tenants/${encodeURIComponent(x.slug)}`);
          await showSignedIn();
        }, `Deleted tenant ${x.slug}.`);
      } }, "Delete"))));
  const create = h("form", { class: "inline", id: "new-tenant" },
    h("label", {}, "Slug", h("input", { name: "slug", required: true, pattern: "[a-z0-9][a-z0-9-]*" })),
    h("label", {}, "Name", h("input", { name: "display_name" })),
    h("label", {}, "Algorithm", h("select", { name: "signing_alg" }, ["ES256", "EdDSA", "RS256"].map((a) => h("option", { value: a }, a)))),
    h("button", { type: "submit" }, "Create tenant"));
  create.addEventListener("submit", (e) => {
    e.preventDefault();
    const f = new FormData(create);
    const input = { slug: f.get("slug"), signing_alg: f.get("signing_alg") };
    if (f.get("display_name")) input.display_name = f.get("display_name");
    action(async () => {
      await api("POST", "/tenants", input);
      sessionStorage.setItem("holdfast-console-tenant", input.slug);
      await showSignedIn();
    }, `Created tenant ${input.slug}.`);
  });
  return h("div", {}, h("h2", {}, "Tenants"), table(["Slug", "Name", "Algorithm", "Issuer", ""], rows),
    state.me?.server_admin ? [h("h3", {}, "New tenant"), create] : null);
}

const VIEWS = { clients: clientsView, users: () => usersView(), keys: keysView, events: eventsView, settings: settingsView, tenants: tenantsView };

// ---- start ---------------------------------------------------------------

$("sign-in").addEventListener("click", () => action(() => client.signInWithRedirect()));
$("sign-out").addEventListener("click", () => action(async () => {
  // Also ends the hosted single sign-on session (RP-initiated logout).
  await client.signOut();
  showSignedOut();
}, "Signed out."));
$("tenant").addEventListener("change", (e) => {
  state.tenant = e.target.value;
  sessionStorage.setItem("holdfast-console-tenant", state.tenant);
  action(() => show(state.view));
});
for (const b of document.querySelectorAll("nav [data-view]")) {
  b.addEventListener("click", () => action(() => show(b.dataset.view)));
}

try {
  if (client.isRedirectCallback()) {
    await client.handleRedirectCallback();
    history.replaceState(null, "", location.pathname);
  }
  if (await client.isSignedIn()) await showSignedIn();
  else showSignedOut();
} catch (e) {
  console.error(e);
  showSignedOut();
  if (e instanceof ApiError && e.status === 403) {
    status(`${e.message}. Ask a whole-server administrator for a grant (holdfast admin grant).`, "error");
  } else if (!(e instanceof LoginRequiredError)) {
    status(e.message ?? String(e), "error");
  }
} finally {
  document.body.dataset.ready = "true";
}
