// Entry point of the console: the header (clock, live state, who is signed in), the hash router,
// and the live stream every view listens to.

import { loadOrganizations, session, signOut } from "./api.js";
import { actionsView } from "./actions.js";
import { formatTime, h, replaceContent, toast } from "./dom.js";
import { dropboxView } from "./dropbox.js";
import { instancesView } from "./instances.js";
import {
  catalogView,
  createView,
  doneView,
  hubView,
  isOAuthReturn,
  oauthReturnView,
  signInView,
} from "./provision.js";
import { clockNow, coalesce, connect, onChange, store } from "./store.js";
import { timelineView } from "./timeline.js";

// [pattern, view, names of the captured parts, needs a signed-in user]
const ROUTES = [
  [/^#\/signin$/, signInView, [], false],
  [/^#\/catalog$/, catalogView, [], true],
  [/^#\/catalog\/([^/]+)$/, hubView, ["hub"], true],
  [/^#\/catalog\/([^/]+)\/([^/]+)$/, createView, ["hub", "connector"], true],
  [/^#\/done$/, doneView, [], true],
  [/^#\/instances$/, instancesView, [], true],
  [/^#\/dropbox(?:\/([^/]+))?$/, dropboxView, ["account"], true],
  [/^#\/timeline$/, timelineView, [], true],
  [/^#\/actions$/, actionsView, [], true],
];

let current = { cleanup: null, token: 0 };

function match(hash) {
  for (const [pattern, view, names, needsUser] of ROUTES) {
    const found = pattern.exec(hash);
    if (found) {
      const params = Object.fromEntries(
        names.map((name, i) => [name, found[i + 1] && decodeURIComponent(found[i + 1])]),
      );
      return { view, params, needsUser };
    }
  }
  return null;
}

async function route() {
  const main = document.getElementById("main");
  current.cleanup?.();
  const token = ++current.token;
  current.cleanup = null;
  let found = match(location.hash);
  if (!found) {
    location.replace(session() ? "#/catalog" : "#/signin");
    return;
  }
  if (found.needsUser && !session()) {
    found = { view: signInView, params: { next: location.hash } };
  }
  // Each view renders into its own box: a slow view that finishes after a newer one is left detached.
  const box = h("div", { class: "view" });
  main.replaceChildren(box);
  markNav();
  try {
    const cleanup = await found.view(box, found.params);
    if (token !== current.token) cleanup?.();
    else current.cleanup = cleanup || null;
  } catch (error) {
    box.append(h("p", { class: "error", role: "alert" }, `This page could not load: ${error.message}`));
  }
  if (token === current.token) focusTitle();
  renderWho();
}

function focusTitle() {
  const title = document.getElementById("view-title");
  if (!title) return;
  document.title = `${title.textContent} · hub-emulator console`;
  title.focus({ preventScroll: true });
}

function markNav() {
  const section = location.hash.split("/")[1] || "";
  for (const link of document.querySelectorAll(".top nav a")) {
    const mine = link.getAttribute("href").split("/")[1] === section;
    if (mine) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// -- header -------------------------------------------------------------------------------------
function renderWho() {
  const who = document.getElementById("who");
  const me = session();
  if (!me) {
    replaceContent(who, h("a", { href: "#/signin" }, "Sign in"));
    return;
  }
  const name = `${me.user.firstName} ${me.user.lastName}`.trim() || me.user.email;
  replaceContent(
    who,
    h("span", { id: "signed-in-as" }, `${name} · ${me.org.name}`),
    " ",
    h("button", { type: "button", class: "small", id: "sign-out", onclick: leave }, "Sign out"),
  );
}

function leave() {
  signOut();
  location.hash = "#/signin";
  renderWho();
}

function renderClock() {
  const now = clockNow();
  const clock = document.getElementById("clock");
  clock.textContent = now === null ? "" : `${formatTime(now)} · ${store.clock.mode}`;
}

function renderLive() {
  const live = document.getElementById("live");
  live.textContent = store.connected ? "live" : "reconnecting…";
  live.className = store.connected ? "live on" : "live off";
}

function announce(kind, data) {
  if (kind === "attempt" && data.outcome !== "in_flight") {
    const answer = data.statusCode !== null ? `HTTP ${data.statusCode}` : data.error || "no answer";
    const text = `Notification ${data.notificationId} try ${data.tryNumber}: ${data.outcome} (${answer})`;
    toast(text, data.outcome === "delivered" ? "good" : "bad");
  }
  if (kind === "reset") {
    toast("The emulator was reset.");
    loadOrganizations().then(renderWho);
  }
}

async function start() {
  connect();
  const header = coalesce(() => {
    renderClock();
    renderLive();
  });
  onChange((kind, data) => {
    announce(kind, data);
    header();
  });
  setInterval(() => store.clock?.mode === "real" && renderClock(), 1000);
  await loadOrganizations();
  renderWho();
  if (isOAuthReturn()) {
    const box = h("div", { class: "view" });
    document.getElementById("main").replaceChildren(box);
    await oauthReturnView(box);
    window.addEventListener("hashchange", route);
    // A success moved on to #/done; a refusal stays on its message until the next navigation.
    if (location.hash === "#/done") await route();
    return;
  }
  window.addEventListener("hashchange", route);
  await route();
}

start();
