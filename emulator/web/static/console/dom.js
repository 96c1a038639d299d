// Small DOM helpers shared by the console's views: element building, focus-keeping updates, toasts.

// h("button", {type: "button", onclick: f}, "Label") builds an element; children may be strings,
// nodes, arrays or null (skipped). Attributes starting with "on" become listeners.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name in el && typeof value !== "string") {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

// Replaces the content of `container`, keeping keyboard focus on the element with the same
// data-focus key, so that live updates never throw a keyboard user back to the top.
export function replaceContent(container, ...children) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.focus : undefined;
  container.replaceChildren();
  append(container, children);
  if (key) container.querySelector(`[data-focus="${CSS.escape(key)}"]`)?.focus();
}

export function replaceNode(old, fresh) {
  const active = document.activeElement;
  const key = active && old.contains(active) ? active.dataset.focus : undefined;
  old.replaceWith(fresh);
  if (key) fresh.querySelector(`[data-focus="${CSS.escape(key)}"]`)?.focus();
}

// A status word with its colour; the word itself is always shown, never colour alone.
export function badge(status, label = status) {
  return h("span", { class: `badge status-${String(status).toLowerCase()}` }, label);
}

export function heading(text) {
  return h("h1", { tabindex: "-1", id: "view-title" }, text);
}

// Emulator time (seconds since the epoch, or the API's ISO text) as "2026-01-01 00:00:04", UTC.
export function formatTime(time) {
  if (time === null || time === undefined) return "";
  const iso = typeof time === "string" ? time : new Date(time * 1000).toISOString();
  return iso.replace("T", " ").replace(/(\.\d+)?Z$/, "");
}

export function formatBytes(size) {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KiB`;
  return `${(size / 1024 / 1024).toFixed(1)} MiB`;
}

export function pretty(value) {
  return JSON.stringify(value, null, 2);
}

const MAX_TOASTS = 4;

// A short message in the polite live region at the bottom; it leaves by itself.
export function toast(text, kind = "info") {
  const region = document.getElementById("toasts");
  const item = h("p", { class: `toast toast-${kind}` }, text);
  region.append(item);
  while (region.children.length > MAX_TOASTS) region.firstElementChild.remove();
  setTimeout(() => item.remove(), 6000);
}

// The message of a failed request, for a form's error line.
export function problemText(error) {
  return error && error.message ? error.message : String(error);
}

export function errorLine(id) {
  return h("p", { class: "error", id, role: "alert", hidden: true });
}

export function showError(line, error) {
  line.textContent = error ? problemText(error) : "";
  line.hidden = !error;
}
