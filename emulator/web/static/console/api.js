// HTTP to the emulator (the emulated API and the control plane) and the signed-in user's secrets.

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

// fetch() with JSON in and out; a non-2xx answer throws an ApiError carrying the emulator's message
// (the platform's {"message", "providerMessage"} or the control plane's {"error", "message"}).
export async function call(method, url, { json, headers = {}, auth } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  }
  if (auth) init.headers.Authorization = auth;
  const answer = await fetch(url, init);
  const text = await answer.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  if (!answer.ok) {
    const message = body && typeof body === "object" ? body.message || body.error : text;
    const detail = body && body.providerMessage ? ` (${body.providerMessage})` : "";
    throw new ApiError(answer.status, `${answer.status}: ${message || answer.statusText}${detail}`, body);
  }
  return body;
}

export const get = (url, options) => call("GET", url, options);
export const post = (url, json, options = {}) => call("POST", url, { ...options, json });

// -- who is signed in -------------------------------------------------------------------------
const SIGN_IN_KEY = "hub-console.sign-in";
let organizations = [];

export async function loadOrganizations() {
  organizations = await get("/_emulator/organizations");
  return organizations;
}

export function allOrganizations() {
  return organizations;
}

export function signIn(orgId, userId) {
  localStorage.setItem(SIGN_IN_KEY, JSON.stringify({ orgId, userId }));
}

export function signOut() {
  localStorage.removeItem(SIGN_IN_KEY);
}

// {org, user} of the signed-in user, or null (never signed in, or gone since: a reset drops tenants).
export function session() {
  let saved;
  try {
    saved = JSON.parse(localStorage.getItem(SIGN_IN_KEY) || "null");
  } catch {
    saved = null;
  }
  if (!saved) return null;
  const org = organizations.find((o) => o.id === saved.orgId);
  const user = org && org.users.find((u) => u.id === saved.userId);
  return user ? { org, user } : null;
}

// `Authorization: User <u>, Organization <o>`: the signed-in user's, or the owner's of an instance.
export function platformAuth(instance) {
  if (instance) {
    const org = organizations.find((o) => o.id === instance.organizationId);
    const user = org && (org.users.find((u) => u.id === instance.userId) || org.users[0]);
    if (org && user) return `User ${user.secret}, Organization ${org.secret}`;
  }
  const current = session();
  return current ? `User ${current.user.secret}, Organization ${current.org.secret}` : "";
}

export function tenantQuery() {
  const current = session();
  return current ? `tenant=${encodeURIComponent(current.org.tenant)}` : "tenant=default";
}
