// Instances of every organization, live: dialect, account, events, enabled, subscription state;
// enable, disable and delete go through the platform API with the owner's secrets.

import { call, platformAuth } from "./api.js";
import { badge, h, heading, problemText, replaceContent, toast } from "./dom.js";
import { coalesce, instancesInOrder, onChange } from "./store.js";

export function instancesView(main) {
  const list = h("ul", { class: "cards instances", id: "instance-list" });
  // What the cards show besides the instances themselves; kept here, as live updates rebuild them.
  const view = { confirming: new Set(), errors: new Map(), render: null };
  view.render = () => replaceContent(list, cards(view));
  main.append(
    heading("Instances"),
    h(
      "p",
      { class: "lead" },
      "Every organization's instances, updated live. ",
      h("a", { href: "#/catalog" }, "Create Instance"),
    ),
    list,
  );
  view.render();
  return onChange(coalesce(view.render));
}

function cards(view) {
  const instances = instancesInOrder();
  if (!instances.length) return h("li", { class: "empty" }, "No instance yet.");
  return instances.map((instance) => card(instance, view));
}

function card(instance, view) {
  const sub = instance.subscription;
  const error = view.errors.get(instance.id);
  return h(
    "li",
    { class: "card instance", dataset: { instance: String(instance.id) } },
    h("h2", {}, `#${instance.id} ${instance.name}`),
    h(
      "dl",
      { class: "facts" },
      fact("Dialect", instance.dialect),
      fact("Account", `${instance.account} (tenant ${instance.tenant})`),
      fact("Owner", instance.user),
      fact("Events", eventsText(instance)),
      fact("State", badge(instance.disabled ? "disabled" : "enabled")),
      fact("Subscription", [badge(sub.state), subscriptionDetail(sub)]),
      fact("Token", h("code", {}, instance.token)),
    ),
    error ? h("p", { class: "error", role: "alert" }, error) : null,
    h("p", { class: "buttons" }, actions(instance, view)),
  );
}

function fact(label, value) {
  return [h("dt", {}, label), h("dd", {}, value)];
}

function eventsText(instance) {
  if (!instance.eventsEnabled) return "off";
  const how =
    instance.vendorType === "polling" ? `polling every ${instance.pollIntervalMinutes} min` : "webhook";
  return [`${how} to `, h("code", {}, instance.callbackUrl || "?"), instance.signed ? " (signed)" : ""];
}

function subscriptionDetail(sub) {
  const parts = [];
  if (sub.pending) parts.push(`${sub.pending} pending`);
  if (sub.queued) parts.push(`${sub.queued} queued`);
  if (sub.failures) parts.push(`${sub.failures} failed tries`);
  return parts.length ? ` ${parts.join(", ")}` : "";
}

function button(label, focusKey, onclick, className = "") {
  return h("button", { type: "button", class: className, dataset: { focus: focusKey }, onclick }, label);
}

function actions(instance, view) {
  const id = instance.id;
  const hidden = h("span", { class: "visually-hidden" }, ` instance #${id}`);
  if (view.confirming.has(id)) {
    const cancel = () => {
      view.confirming.delete(id);
      view.render();
    };
    return [
      h("span", {}, `Delete #${id}? Its token stops working. `),
      button(["Yes, delete", hidden], `really-${id}`, () => remove(instance, view), "danger"),
      button("Cancel", `cancel-${id}`, cancel),
    ];
  }
  const ask = () => {
    view.confirming.add(id);
    view.render();
    document.querySelector(`[data-focus="really-${id}"]`)?.focus();
  };
  return [
    button([instance.disabled ? "Enable" : "Disable", hidden.cloneNode(true)], `toggle-${id}`, () =>
      setEnabled(instance, instance.disabled, view),
    ),
    button(["Delete", hidden], `delete-${id}`, ask, "danger"),
  ];
}

function base(instance) {
  return `/${instance.dialect}/api-v2/instances/${instance.id}`;
}

async function act(instance, view, work, done) {
  try {
    await work();
    view.errors.delete(instance.id);
    toast(done);
  } catch (error) {
    view.errors.set(instance.id, problemText(error));
  }
  view.render();
}

function setEnabled(instance, enabled, view) {
  const url = `${base(instance)}/enabled`;
  const work = () => call(enabled ? "PUT" : "DELETE", url, { auth: platformAuth(instance) });
  return act(instance, view, work, `Instance #${instance.id} ${enabled ? "enabled" : "disabled"}.`);
}

function remove(instance, view) {
  view.confirming.delete(instance.id);
  const work = () => call("DELETE", base(instance), { auth: platformAuth(instance) });
  return act(instance, view, work, `Instance #${instance.id} deleted.`);
}
