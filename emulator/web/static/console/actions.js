// Actions on the running emulator: the clock, faults on a destination, subscriptions and their
// queues, triggering an event, replaying a notification, scenarios with their step report, reset.

import { call, get, post } from "./api.js";
import { badge, formatTime, h, heading, problemText, replaceContent, toast } from "./dom.js";
import { clockNow, coalesce, instancesInOrder, onChange, setClock, store } from "./store.js";

const FAULT_ACTIONS = ["fail", "refuse", "delay", "drop", "duplicate", "reorder"];
const STEPS = [4, 16, 64, 900, 3600];

export async function actionsView(main) {
  const parts = {
    clock: h("div", { id: "clock-state" }),
    faults: h("div", { id: "fault-list" }),
    subscriptions: h("div", { id: "subscription-list" }),
    destinations: h("datalist", { id: "destinations" }),
    instances: h("select", { id: "trigger-instance", name: "instance", required: true }),
  };
  main.append(
    heading("Actions"),
    section("Clock", "clock-heading", parts.clock, clockControls()),
    section("Faults on a destination", "faults-heading", faultForm(parts), parts.faults),
    section("Subscriptions", "subs-heading", parts.subscriptions),
    section("Trigger an event", "trigger-heading", triggerForm(parts)),
    section("Replay a notification", "replay-heading", replayForm()),
    section("Scenarios", "scenarios-heading", await scenarioList()),
    section("Reset", "reset-heading", resetControls()),
  );
  const render = () => renderLive(parts);
  render();
  await refreshFaults(parts);
  // Fault rules count down as attempts use them; the stream tells of attempts, not of rules.
  const faultsLater = coalesce(() => refreshFaults(parts), 200);
  const renderLater = coalesce(render);
  return onChange((kind) => {
    if (kind === "attempt" || kind === "reset") faultsLater();
    renderLater();
  });
}

function section(title, id, ...content) {
  return h("section", { class: "panel", "aria-labelledby": id }, h("h2", { id }, title), ...content);
}

function renderLive(parts) {
  const clock = store.clock;
  if (clock) {
    const next =
      clock.nextDue === null
        ? "none"
        : `${formatTime(clock.nextDue)} (in ${Math.round(clock.nextDue - clock.now)} s)`;
    replaceContent(
      parts.clock,
      h(
        "p",
        {},
        "Emulator time ",
        h("strong", { id: "clock-now" }, formatTime(clockNow())),
        ` · ${clock.mode}`,
        clock.mode === "real" ? ` ×${clock.scale}` : "",
      ),
      h("p", {}, `${clock.pendingTimers} timers waiting; next due: ${next}.`),
    );
  }
  replaceContent(parts.subscriptions, subscriptionRows());
  const urls = new Set([
    ...store.subscriptions.keys(),
    ...instancesInOrder()
      .map((i) => i.callbackUrl)
      .filter(Boolean),
  ]);
  parts.destinations.replaceChildren(...[...urls].map((url) => h("option", { value: url })));
  fillInstanceSelect(parts.instances);
}

function fillInstanceSelect(select) {
  const options = instancesInOrder().map((i) => [String(i.id), `#${i.id} ${i.name}`]);
  const wanted = options.map(([id]) => id).join(",");
  if (select.dataset.options === wanted) return;
  const chosen = select.value;
  select.dataset.options = wanted;
  select.replaceChildren(
    ...options.map(([id, label]) => h("option", { value: id, selected: id === chosen }, label)),
  );
}

// -- clock --------------------------------------------------------------------------------------
function clockControls() {
  const seconds = h("input", {
    id: "advance-seconds",
    name: "seconds",
    type: "number",
    min: "0",
    step: "any",
    value: "4",
    required: true,
  });
  const quick = STEPS.map((s) =>
    h(
      "button",
      { type: "button", dataset: { focus: `advance-${s}` }, onclick: () => advance(s) },
      `+${label(s)}`,
    ),
  );
  const nextTimer = h(
    "button",
    { type: "button", id: "advance-next", onclick: advanceToNext },
    "Run the next timer",
  );
  return [
    h("p", { class: "buttons" }, quick, nextTimer),
    h(
      "form",
      {
        class: "inline-form",
        onsubmit: (e) => {
          e.preventDefault();
          advance(Number(seconds.value));
        },
      },
      h("label", { for: "advance-seconds" }, "Advance by (seconds)"),
      seconds,
      h("button", { type: "submit", class: "primary", id: "advance" }, "Advance clock"),
    ),
  ];
}

function label(seconds) {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

async function advance(seconds) {
  try {
    const clock = await post("/_emulator/clock/advance", { seconds });
    setClock(clock);
    toast(`Clock advanced ${seconds} s to ${formatTime(clock.now)}: ${clock.timersRun} timers ran.`);
  } catch (error) {
    toast(`Advance failed: ${problemText(error)}`, "error");
  }
}

async function advanceToNext() {
  const clock = await get("/_emulator/clock");
  if (clock.nextDue === null) {
    toast("No timer is waiting.");
    return;
  }
  await advance(Math.max(0, clock.nextDue - clock.now));
}

// -- faults -------------------------------------------------------------------------------------
function faultForm(parts) {
  const form = h(
    "form",
    { id: "fault-form", class: "grid-form" },
    h(
      "div",
      { class: "field" },
      h("label", { for: "fault-url" }, "Destination URL (empty: any)"),
      h("input", { id: "fault-url", name: "url", type: "url", list: "destinations" }),
      parts.destinations,
    ),
    h(
      "div",
      { class: "field" },
      h("label", { for: "fault-action" }, "Action"),
      h(
        "select",
        { id: "fault-action", name: "action" },
        FAULT_ACTIONS.map((a) => h("option", { value: a }, a)),
      ),
    ),
    numberField("fault-count", "count", "Attempts (0: until cleared)", "1"),
    numberField("fault-status", "status", "HTTP status (fail)", "500"),
    numberField("fault-delay", "delayMs", "Delay ms (delay)", "0"),
    h(
      "p",
      { class: "buttons" },
      h("button", { type: "submit", class: "primary", id: "add-fault" }, "Add fault"),
    ),
  );
  form.addEventListener("submit", (event) => addFault(event, form, parts));
  return form;
}

function numberField(id, name, text, value) {
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, text),
    h("input", { id, name, type: "number", min: "0", value }),
  );
}

async function addFault(event, form, parts) {
  event.preventDefault();
  const data = new FormData(form);
  const rule = {
    action: data.get("action"),
    count: Number(data.get("count")),
    status: Number(data.get("status")),
    delayMs: Number(data.get("delayMs")),
  };
  if (data.get("url")) rule.url = data.get("url");
  try {
    await post("/_emulator/faults", rule);
    toast(`Fault added: ${rule.action} × ${rule.count || "∞"} on ${rule.url || "every destination"}.`);
  } catch (error) {
    toast(`Fault refused: ${problemText(error)}`, "error");
  }
  await refreshFaults(parts);
}

async function refreshFaults(parts) {
  const faults = await get("/_emulator/faults");
  if (!faults.length) {
    replaceContent(parts.faults, h("p", { class: "hint" }, "No fault rule."));
    return;
  }
  const clear = async (url) => {
    await call(
      "DELETE",
      url === null ? "/_emulator/faults" : `/_emulator/faults?url=${encodeURIComponent(url)}`,
    );
    toast(url === null ? "Every fault cleared." : `Faults on ${url} cleared.`);
    await refreshFaults(parts);
  };
  replaceContent(
    parts.faults,
    h(
      "ul",
      { class: "rows", id: "faults" },
      faults.map((f) =>
        h(
          "li",
          {},
          badge("fault", f.action),
          ` ${f.url || "any destination"}: ${f.count ? `${f.count} attempts left` : "until cleared"}`,
          f.action === "fail" ? `, HTTP ${f.status}` : "",
          `, used ${f.used}× `,
          f.url
            ? h(
                "button",
                { type: "button", onclick: () => clear(f.url) },
                "Clear",
                h("span", { class: "visually-hidden" }, ` faults on ${f.url}`),
              )
            : null,
        ),
      ),
    ),
    h("button", { type: "button", id: "clear-faults", onclick: () => clear(null) }, "Clear all faults"),
  );
}

// -- subscriptions ------------------------------------------------------------------------------
function subscriptionRows() {
  const subs = [...store.subscriptions.values()];
  if (!subs.length) return h("p", { class: "hint" }, "No callback has been sent yet.");
  return h(
    "ul",
    { class: "rows" },
    subs.map((s) =>
      h(
        "li",
        {},
        badge(s.state),
        " ",
        h("code", {}, s.url),
        ` · ${s.pending} pending, ${s.queued} queued`,
        s.failures ? `, ${s.failures} failed tries` : "",
        s.next_retry_at !== null ? `, next try ${formatTime(s.next_retry_at)}` : "",
        s.queued || s.state === "deactivated"
          ? h(
              "button",
              { type: "button", dataset: { focus: `redeliver-${s.url}` }, onclick: () => redeliver(s.url) },
              "Redeliver queued",
              h("span", { class: "visually-hidden" }, ` to ${s.url}`),
            )
          : null,
      ),
    ),
  );
}

async function redeliver(url) {
  try {
    const answer = await post(`/_emulator/deliveries/redeliver?url=${encodeURIComponent(url)}`);
    toast(`${answer.redelivered} notifications redelivered to ${url}.`);
  } catch (error) {
    toast(`Redeliver failed: ${problemText(error)}`, "error");
  }
}

// -- trigger and replay ---------------------------------------------------------------------------
function triggerForm(parts) {
  const path = h("input", { id: "trigger-path", name: "path", value: "/Made/Up.txt", required: true });
  const form = h(
    "form",
    { class: "grid-form", id: "trigger-form" },
    h("div", { class: "field" }, h("label", { for: "trigger-instance" }, "Instance"), parts.instances),
    h("div", { class: "field" }, h("label", { for: "trigger-path" }, "Event path"), path),
    h("p", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Trigger event")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const answer = await post(`/_emulator/instances/${parts.instances.value}/trigger`, {
        events: [{ path: path.value }],
      });
      toast(
        `Event ${answer.eventIds.join(", ")} triggered: notification ${answer.notificationIds.join(", ")}.`,
      );
    } catch (error) {
      toast(`Trigger failed: ${problemText(error)}`, "error");
    }
  });
  return form;
}

function replayForm() {
  const id = h("input", { id: "replay-id", name: "id", type: "number", min: "1", required: true });
  const form = h(
    "form",
    { class: "inline-form" },
    h("label", { for: "replay-id" }, "Notification id"),
    id,
    h("button", { type: "submit", class: "primary" }, "Replay"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const answer = await post(`/_emulator/notifications/${id.value}/replay`);
      toast(`Notification ${id.value} replayed as notification ${answer.notificationId}.`);
    } catch (error) {
      toast(`Replay failed: ${problemText(error)}`, "error");
    }
  });
  return [
    h(
      "p",
      { class: "hint" },
      "Sends a past notification again, byte for byte. The timeline has a Replay button on each.",
    ),
    form,
  ];
}

// -- scenarios ----------------------------------------------------------------------------------
async function scenarioList() {
  let scenarios = [];
  try {
    scenarios = await get("/_emulator/scenarios");
  } catch {
    return h("p", { class: "hint" }, "This emulator has no scenarios.");
  }
  const report = h("div", { id: "scenario-report", "aria-live": "polite" });
  const rows = scenarios.map((s) =>
    h(
      "li",
      {},
      h("strong", {}, s.name),
      ` (${s.steps} steps) `,
      s.description ? h("span", { class: "hint" }, s.description) : null,
      " ",
      s.valid
        ? h(
            "button",
            {
              type: "button",
              dataset: { focus: `run-${s.name}` },
              onclick: (e) => runScenario(s.name, report, e.currentTarget),
            },
            "Run",
            h("span", { class: "visually-hidden" }, ` scenario ${s.name}`),
          )
        : badge("failed", "invalid"),
    ),
  );
  return [h("ul", { class: "rows", id: "scenarios" }, rows), report];
}

async function runScenario(name, report, button) {
  button.disabled = true;
  replaceContent(report, h("p", {}, `Running ${name}…`));
  try {
    const answer = await call("POST", `/_emulator/scenarios/${encodeURIComponent(name)}/run`).catch(
      (error) => {
        if (error.body && error.body.steps) return error.body; // 422: a report of a failed run
        throw error;
      },
    );
    replaceContent(report, stepReport(answer));
  } catch (error) {
    replaceContent(report, h("p", { class: "error", role: "alert" }, problemText(error)));
  } finally {
    button.disabled = false;
  }
}

function stepReport(answer) {
  return [
    h("h3", {}, `${answer.name} `, badge(answer.status), ` ${answer.summary.replace(/^\w+: /, "")}`),
    h(
      "table",
      { class: "report" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["#", "Step", "Result", "ms", "Message"].map((t) => h("th", { scope: "col" }, t)),
        ),
      ),
      h(
        "tbody",
        {},
        answer.steps.map((s) =>
          h(
            "tr",
            {},
            h("td", {}, String(s.number)),
            h("td", {}, s.name),
            h("td", {}, badge(s.status)),
            h("td", {}, String(Math.round(s.durationMs))),
            h("td", { class: "message" }, s.message || ""),
          ),
        ),
      ),
    ),
  ];
}

// -- reset --------------------------------------------------------------------------------------
function resetControls() {
  const box = h("div", { id: "reset-box" });
  const ask = () => {
    replaceContent(
      box,
      h(
        "p",
        {},
        "Back to the fixture's state: every instance, event and notification made since is forgotten.",
      ),
      h("button", { type: "button", class: "danger", id: "really-reset", onclick: reset }, "Yes, reset"),
      h("button", { type: "button", onclick: () => idle(true) }, "Cancel"),
    );
    box.querySelector("#really-reset").focus();
  };
  const idle = (focus = false) => {
    replaceContent(
      box,
      h("button", { type: "button", class: "danger", id: "reset", onclick: ask }, "Reset the emulator…"),
    );
    if (focus) box.querySelector("#reset").focus();
  };
  const reset = async () => {
    try {
      const answer = await post("/_emulator/reset");
      toast(`Reset in ${answer.serverMs} ms.`);
    } catch (error) {
      toast(`Reset failed: ${problemText(error)}`, "error");
    }
    idle(true);
  };
  idle();
  return box;
}
