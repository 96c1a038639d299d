// The timeline: events newest first, each with its notifications and every delivery attempt, live
// from the stream; status colours, latency, response code, and each request's body and headers.

import { post } from "./api.js";
import { badge, formatTime, h, heading, pretty, problemText, replaceContent, toast } from "./dom.js";
import { coalesce, eventsNewestFirst, instancesInOrder, notificationsOf, onChange, store } from "./store.js";

const PAGE = 100; // events shown at first; "Show older" adds as many again
const STATUSES = [
  ["", "Any status"],
  ["pending", "Pending"],
  ["delivered", "Delivered"],
  ["queued", "Queued"],
  ["dropped", "Dropped"],
  ["failed", "With failed tries"],
];

export function timelineView(main) {
  // `fresh`: what changed since the last render, to flash once in the next one.
  const view = { instance: "", status: "", limit: PAGE, open: new Set(), fresh: new Set() };
  const list = h("div", { id: "timeline" });
  const instanceSelect = h("select", {
    id: "filter-instance",
    onchange: (e) => setFilter(view, "instance", e.target.value),
  });
  const statusSelect = h(
    "select",
    { id: "filter-status", onchange: (e) => setFilter(view, "status", e.target.value) },
    STATUSES.map(([value, label]) => h("option", { value }, label)),
  );
  view.render = () => {
    fillInstances(instanceSelect, view);
    replaceContent(list, content(view));
    view.fresh.clear();
  };
  main.append(
    heading("Timeline"),
    h(
      "p",
      { class: "lead" },
      "Events, notifications and every delivery attempt, newest first, as they happen.",
    ),
    h(
      "form",
      { class: "filters", "aria-label": "Filter the timeline", onsubmit: (e) => e.preventDefault() },
      h("div", { class: "field inline" }, h("label", { for: "filter-instance" }, "Instance"), instanceSelect),
      h("div", { class: "field inline" }, h("label", { for: "filter-status" }, "Status"), statusSelect),
    ),
    list,
  );
  view.render();
  const later = coalesce(view.render);
  return onChange((kind, data) => {
    // What changes after the first burst is news: it flashes once (the burst itself does not).
    if (store.synced && kind === "notification") view.fresh.add(`n${data.notificationId}`);
    if (store.synced && kind === "event") view.fresh.add(`e${data.id}`);
    later();
  });
}

function setFilter(view, key, value) {
  view[key] = value;
  view.limit = PAGE;
  view.render();
}

function fillInstances(select, view) {
  const ids = instancesInOrder().map((i) => String(i.id));
  for (const event of store.events.values()) {
    if (!ids.includes(String(event.instanceId))) ids.push(String(event.instanceId));
  }
  const wanted = ["", ...ids].join(",");
  if (select.dataset.options === wanted) return; // rebuilding an open select would close it
  select.dataset.options = wanted;
  select.replaceChildren(
    h("option", { value: "" }, "All instances"),
    ids.map((id) =>
      h(
        "option",
        { value: id, selected: id === view.instance },
        `#${id} ${store.instances.get(Number(id))?.name || "(deleted)"}`,
      ),
    ),
  );
}

function matches(view, notification) {
  if (!view.status) return true;
  if (view.status === "failed") return notification.attempts.some((a) => a.outcome === "failed");
  return notification.status === view.status;
}

function content(view) {
  if (!store.synced && !store.events.size) return h("p", {}, "Loading…");
  const shown = [];
  for (const event of eventsNewestFirst()) {
    if (view.instance && String(event.instanceId) !== view.instance) continue;
    const notifications = notificationsOf(event).filter((n) => matches(view, n));
    if (view.status && !notifications.length) continue;
    shown.push([event, notifications]);
  }
  if (!shown.length) {
    return h(
      "p",
      { class: "empty" },
      "Nothing yet. Make a change at Dropbox, trigger an event or run a scenario.",
    );
  }
  const more = shown.length > view.limit;
  return [
    h(
      "ol",
      { class: "timeline", "aria-label": "Events, newest first" },
      shown.slice(0, view.limit).map(([e, ns]) => eventCard(view, e, ns)),
    ),
    more
      ? h(
          "button",
          {
            type: "button",
            dataset: { focus: "older" },
            onclick: () => {
              view.limit += PAGE;
              view.render();
            },
          },
          "Show older events",
        )
      : null,
  ];
}

function isFresh(view, key) {
  return view.fresh.has(key);
}

function eventCard(view, event, notifications) {
  const entries = event.notifiedData?.events || [];
  const listed = entries.slice(0, 4).map((e) => `${e.metadata?.path || e.path} (${e.metadata?.type || "?"})`);
  const rest = entries.length > 4 ? `, and ${entries.length - 4} more` : "";
  const error = event.notifiedData?.error;
  return h(
    "li",
    { class: `event${isFresh(view, `e${event.id}`) ? " fresh" : ""}`, dataset: { event: String(event.id) } },
    h(
      "div",
      { class: "event-head" },
      h("h2", {}, `Event ${event.id}`),
      h("span", { class: "kind" }, event.eventType),
      h("span", {}, `instance #${event.instanceId}`),
      badge(event.status),
      h("time", {}, formatTime(event.eventDate)),
    ),
    listed.length ? h("p", { class: "paths" }, `${listed.join(", ")}${rest}`) : null,
    error ? h("p", { class: "error" }, `Job failed: ${error.message}`) : null,
    notifications.length
      ? h(
          "ol",
          { class: "notifications" },
          notifications.map((n) => notificationItem(view, n)),
        )
      : h("p", { class: "hint" }, event.status === "DISPATCHED" ? "Job running…" : "No notification."),
  );
}

function notificationItem(view, n) {
  const id = n.notificationId;
  const open = view.open.has(id);
  const details = `details-${id}`;
  const toggle = () => {
    if (open) view.open.delete(id);
    else view.open.add(id);
    view.render();
  };
  return h(
    "li",
    {
      class: `notification${isFresh(view, `n${id}`) ? " fresh" : ""}`,
      dataset: { notification: String(id) },
    },
    h(
      "div",
      { class: "n-head" },
      h("h3", {}, `Notification ${id}`),
      badge(n.status),
      h("span", { class: "kind" }, n.kind),
      h("code", { class: "url" }, n.url),
    ),
    retryNote(n),
    h(
      "ol",
      { class: "attempts", "aria-label": `Delivery attempts of notification ${id}, newest first` },
      attemptItems(n),
    ),
    h(
      "p",
      { class: "buttons" },
      h(
        "button",
        {
          type: "button",
          "aria-expanded": String(open),
          "aria-controls": details,
          dataset: { focus: `open-${id}` },
          onclick: toggle,
        },
        open ? "Hide request" : "Show request",
        h("span", { class: "visually-hidden" }, ` of notification ${id}`),
      ),
      h(
        "button",
        { type: "button", dataset: { focus: `replay-${id}` }, onclick: () => replay(id) },
        "Replay",
        h("span", { class: "visually-hidden" }, ` notification ${id}`),
      ),
    ),
    open ? requestDetails(n, details) : h("div", { id: details, hidden: true }),
  );
}

function retryNote(n) {
  if (n.status !== "pending" || !n.attempts.length) return null;
  const sub = store.subscriptions.get(n.url);
  if (!sub || sub.next_retry_at === null || sub.failures === 0) return null;
  const last = n.attempts[n.attempts.length - 1];
  if (last.outcome === "in_flight") return null;
  return h("p", { class: "retry" }, `Next try at ${formatTime(sub.next_retry_at)} (emulator time).`);
}

function attemptItems(n) {
  if (!n.attempts.length) return h("li", { class: "attempt" }, "Not tried yet.");
  return [...n.attempts]
    .reverse()
    .map((a) =>
      h(
        "li",
        { class: `attempt outcome-${a.outcome}` },
        h("span", { class: "try" }, `Try ${a.tryNumber}`),
        badge(a.outcome === "in_flight" ? "sending" : a.outcome),
        h(
          "span",
          { class: "code" },
          a.statusCode !== null ? `HTTP ${a.statusCode}` : a.error ? "no answer" : "",
        ),
        h("span", { class: "latency" }, a.latencyMs !== null ? `${Math.round(a.latencyMs)} ms` : ""),
        h("time", {}, formatTime(a.startedAt)),
        a.fault ? h("span", { class: "fault" }, `fault: ${a.fault}`) : null,
        a.error ? h("span", { class: "note" }, a.error) : null,
      ),
    );
}

function requestDetails(n, id) {
  const answers = n.attempts.filter((a) => a.responseSnippet || a.error);
  return h(
    "div",
    { id, class: "details" },
    h("h4", {}, "Request headers"),
    h(
      "pre",
      { class: "code" },
      Object.entries(n.headers)
        .map(([k, v]) => `${k}: ${v}`)
        .join("\n"),
    ),
    h("h4", {}, "Request body"),
    h("pre", { class: "code" }, pretty(n.body)),
    answers.length ? h("h4", {}, "Answers") : null,
    answers.length
      ? h(
          "pre",
          { class: "code" },
          answers
            .map((a) => `Try ${a.tryNumber}: ${a.statusCode ?? ""} ${a.error || a.responseSnippet}`)
            .join("\n"),
        )
      : null,
  );
}

async function replay(id) {
  try {
    const answer = await post(`/_emulator/notifications/${id}/replay`);
    toast(`Notification ${id} replayed as notification ${answer.notificationId}.`);
  } catch (error) {
    toast(`Replay failed: ${problemText(error)}`, "error");
  }
}
