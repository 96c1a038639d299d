// The guide's console screens: sign in, Catalog, Documents, Create Instance for Dropbox, the
// Dropbox consent round trip (Step 1 of the API), and Done. Provisioning POSTs /instances with the
// user's secrets exactly as an API client would (Step 2), so the instance is like any other.

import { get, loadOrganizations, platformAuth, post, session, signIn } from "./api.js";
import { errorLine, h, heading, pretty, showError } from "./dom.js";
import { onChange, store } from "./store.js";

const FORM_KEY = "hub-console.create-form";
const DONE_KEY = "hub-console.created";
const RETURN_PATH = "/_emulator/ui/oauth-return";
const GUIDE_APP = { key: "fake_Dropbox_api_key", secret: "fake_Dropbox_api_secret", redirectUris: [] };
const SINGULAR = { elements: "element", your_moms: "your_mom" };

// -- sign in ------------------------------------------------------------------------------------
export async function signInView(main, params) {
  const organizations = await loadOrganizations();
  const current = session();
  const choices = organizations.flatMap((org) =>
    org.users.map((user) => {
      const value = `${org.id}:${user.id}`;
      const checked = current
        ? current.user.id === user.id
        : org === organizations[0] && user === org.users[0];
      const name = `${user.firstName} ${user.lastName}`.trim() || user.email;
      return h(
        "label",
        { class: "choice" },
        h("input", { type: "radio", name: "user", value, checked }),
        h("span", {}, h("strong", {}, name), ` <${user.email}>`, h("small", {}, ` ${org.name}`)),
      );
    }),
  );
  const problem = errorLine("sign-in-error");
  const form = h(
    "form",
    { class: "panel narrow", onsubmit: (e) => submitSignIn(e, form, params.next, problem) },
    h("fieldset", {}, h("legend", {}, "Sign in as"), choices),
    h("p", { class: "hint" }, "The console then calls the API with this user's and organization's secrets."),
    problem,
    h("button", { type: "submit", class: "primary", id: "sign-in" }, "Sign in"),
  );
  main.append(heading("Sign in to the Manager"), form);
}

function submitSignIn(event, form, next, problem) {
  event.preventDefault();
  const chosen = new FormData(form).get("user");
  if (!chosen) return showError(problem, new Error("Choose a user to sign in as."));
  const [orgId, userId] = String(chosen).split(":").map(Number);
  signIn(orgId, userId);
  const target = next || "#/catalog";
  // Signing in on the page that asked for it changes no hash: tell the router all the same.
  if (location.hash === target) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = target;
}

// -- catalog ------------------------------------------------------------------------------------
async function connectors() {
  return get("/elements/api-v2/elements", { auth: platformAuth() });
}

export async function catalogView(main) {
  const hubs = new Map();
  for (const connector of await connectors()) {
    const list = hubs.get(connector.hub) || [];
    list.push(connector);
    hubs.set(connector.hub, list);
  }
  const cards = [...hubs.entries()].map(([hub, list]) =>
    h(
      "li",
      { class: "card" },
      h("h2", {}, h("a", { href: `#/catalog/${encodeURIComponent(hub)}` }, title(hub))),
      h("p", {}, list.map((c) => c.name).join(", ")),
    ),
  );
  main.append(
    heading("Catalog"),
    h("p", { class: "lead" }, "Connectors by hub. Pick a hub to see its connectors."),
    h("ul", { class: "cards" }, cards),
  );
}

export async function hubView(main, params) {
  const found = (await connectors()).filter((c) => c.hub === params.hub);
  const cards = found.map((c) =>
    h(
      "li",
      { class: "card connector" },
      h("h2", {}, c.name),
      h("p", {}, c.description),
      c.active
        ? h(
            "a",
            { class: "button primary", href: `#/catalog/${params.hub}/${encodeURIComponent(c.key)}` },
            `Create Instance`,
            h("span", { class: "visually-hidden" }, ` for ${c.name}`),
          )
        : h("p", { class: "hint" }, "Not active in this fixture."),
    ),
  );
  main.append(
    breadcrumbs([["Catalog", "#/catalog"], [title(params.hub)]]),
    heading(title(params.hub)),
    found.length ? h("ul", { class: "cards" }, cards) : h("p", {}, "No connector in this hub."),
  );
}

function title(word) {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function breadcrumbs(items) {
  return h(
    "nav",
    { "aria-label": "Breadcrumb", class: "crumbs" },
    h(
      "ol",
      {},
      items.map(([label, href]) =>
        h("li", {}, href ? h("a", { href }, label) : h("span", { "aria-current": "page" }, label)),
      ),
    ),
  );
}

// -- Create Instance ----------------------------------------------------------------------------
export async function createView(main, params) {
  const apps = await get("/_emulator/providers/dropbox/apps");
  const app = apps[0] || GUIDE_APP;
  const saved = JSON.parse(sessionStorage.getItem(FORM_KEY) || "null");
  const values = saved?.form || {};
  const problem = errorLine("create-error");
  const sink = `${location.origin}/_emulator/sinks/console`;
  const form = h(
    "form",
    { class: "panel", id: "create-form", novalidate: true },
    field(
      "name",
      "Name your instance",
      h("input", { id: "name", name: "name", required: true, value: values.name || "" }),
    ),
    yesNo("tagging", "Tagging", ["Yes", "No"], values.tagging || "No", "Optional; sets document.tagging."),
    field(
      "tags",
      "Instance tags (optional)",
      h("input", { id: "tags", name: "tags", value: values.tags || "", "aria-describedby": "tags-hint" }),
      h("small", { id: "tags-hint" }, "Comma separated, for GET /instances?tags[]=."),
    ),
    yesNo("events", "Event Notifications", ["True", "False"], values.events || "False"),
    h(
      "div",
      { id: "event-settings", class: "subform" },
      field(
        "callback",
        "Callback URL",
        h("input", {
          id: "callback",
          name: "callback",
          type: "url",
          value: values.callback || sink,
          "aria-describedby": "callback-hint",
        }),
        h(
          "small",
          { id: "callback-hint" },
          "Where events are POSTed. The default is the emulator's built-in sink.",
        ),
      ),
      yesNo("vendor", "Event type", ["webhook", "polling"], values.vendor || "webhook"),
      field(
        "interval",
        "Polling interval (minutes)",
        h("input", {
          id: "interval",
          name: "interval",
          type: "number",
          min: "1",
          value: values.interval || "15",
        }),
      ),
      field(
        "signature",
        "Signature key (optional)",
        h("input", {
          id: "signature",
          name: "signature",
          value: values.signature || "",
          "aria-describedby": "sig-hint",
        }),
        h(
          "small",
          { id: "sig-hint" },
          "Signs each callback: a …-Webhook-Signature header, sha256= HMAC of the body.",
        ),
      ),
    ),
    h(
      "details",
      { class: "advanced" },
      h("summary", {}, "Advanced: API spelling and OAuth app"),
      field(
        "dialect",
        "API spelling",
        h(
          "select",
          { id: "dialect", name: "dialect" },
          option("your_moms", "your_moms (the guide's)", values.dialect || "your_moms"),
          option("elements", "elements (the SDKs')", values.dialect || "your_moms"),
        ),
      ),
      field(
        "api-key",
        "OAuth apiKey",
        h("input", { id: "api-key", name: "apiKey", value: values.apiKey || app.key }),
      ),
      field(
        "api-secret",
        "OAuth apiSecret",
        h("input", { id: "api-secret", name: "apiSecret", value: values.apiSecret || app.secret }),
      ),
      h("p", { class: "hint" }, `OAuth callback: ${location.origin}${RETURN_PATH}`),
    ),
    problem,
    h(
      "p",
      { class: "buttons" },
      h("button", { type: "submit", class: "primary", id: "next" }, "Next"),
      h("a", { class: "button", href: `#/catalog/${params.hub}` }, "Cancel"),
    ),
  );
  const sync = () => showEventSettings(form);
  form.addEventListener("change", sync);
  form.addEventListener("submit", (event) => submitCreate(event, form, params, problem));
  main.append(
    breadcrumbs([
      ["Catalog", "#/catalog"],
      [title(params.hub), `#/catalog/${params.hub}`],
      ["Create Instance"],
    ]),
    heading(`Create Instance: ${title(params.connector)}`),
    form,
  );
  sync();
}

function field(id, label, control, hint = null) {
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hint);
}

function option(value, label, selected) {
  return h("option", { value, selected: value === selected }, label);
}

function yesNo(name, legend, values, checked, hint = null) {
  return h(
    "fieldset",
    { class: "choices" },
    h("legend", {}, legend),
    values.map((value) =>
      h(
        "label",
        { class: "choice inline" },
        h("input", {
          type: "radio",
          name,
          value,
          checked: value === checked,
          id: `${name}-${value.toLowerCase()}`,
        }),
        ` ${value}`,
      ),
    ),
    hint ? h("small", {}, hint) : null,
  );
}

function showEventSettings(form) {
  const data = new FormData(form);
  const on = data.get("events") === "True";
  form.querySelector("#event-settings").hidden = !on;
  form.querySelector("#callback").required = on;
  form.querySelector("#interval").closest(".field").hidden = data.get("vendor") !== "polling";
}

async function submitCreate(event, form, params, problem) {
  event.preventDefault();
  const values = Object.fromEntries(new FormData(form).entries());
  const missing = missingEntries(values);
  if (missing) return showError(problem, new Error(missing));
  showError(problem, null);
  const callbackUrl = location.origin + RETURN_PATH;
  sessionStorage.setItem(
    FORM_KEY,
    JSON.stringify({ form: values, connector: params.connector, hub: params.hub, callbackUrl }),
  );
  const query = new URLSearchParams({
    apiKey: values.apiKey,
    apiSecret: values.apiSecret,
    callbackUrl,
    state: params.connector,
  });
  const dialect = values.dialect;
  try {
    // Step 1 of the guide; sent with the user's secrets so that a tenant gets its own consent page.
    const step1 = await get(`/${dialect}/api-v2/${dialect}/${params.connector}/oauth/url?${query}`, {
      auth: platformAuth(),
    });
    location.assign(step1.oauthUrl);
  } catch (error) {
    showError(problem, error);
  }
}

function missingEntries(values) {
  if (!values.name.trim()) return "Name your instance.";
  if (values.events === "True") {
    try {
      const url = new URL(values.callback);
      if (!url.protocol.startsWith("http")) throw new Error();
    } catch {
      return "The callback URL must be an absolute http or https URL.";
    }
  }
  return "";
}

// The body of POST /instances, as the guide's instance.json has it.
function instanceBody(saved, code) {
  const values = saved.form;
  const configuration = {
    "oauth.callback.url": saved.callbackUrl,
    "oauth.api.key": values.apiKey,
    "oauth.api.secret": values.apiSecret,
    "event.notification.enabled": values.events === "True" ? "true" : "false",
    "document.tagging": values.tagging === "Yes",
  };
  if (values.events === "True") {
    configuration["event.notification.callback.url"] = values.callback;
    configuration["event.vendor.type"] = values.vendor;
    if (values.vendor === "polling") configuration["event.poller.refresh_interval"] = values.interval;
    if (values.signature) configuration["event.notification.signature.key"] = values.signature;
  }
  const tags = values.tags
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  return {
    [SINGULAR[values.dialect]]: { key: saved.connector },
    providerData: { code },
    configuration,
    tags,
    name: values.name.trim(),
  };
}

// -- back from the Dropbox consent page -----------------------------------------------------------
export function isOAuthReturn() {
  return location.pathname.endsWith("/oauth-return");
}

export async function oauthReturnView(main) {
  const query = new URLSearchParams(location.search);
  const saved = JSON.parse(sessionStorage.getItem(FORM_KEY) || "null");
  history.replaceState(null, "", "/_emulator/ui/#/creating");
  if (!saved) {
    main.append(
      heading("Nothing to finish"),
      h("p", {}, "No instance form is waiting. "),
      h("a", { href: "#/catalog" }, "Back to the Catalog"),
    );
    return;
  }
  const back = `#/catalog/${saved.hub}/${saved.connector}`;
  if (!query.get("code")) {
    const why = query.get("error_description") || query.get("error") || "no code came back";
    main.append(
      heading("Dropbox did not allow access"),
      h("p", { class: "error", role: "alert" }, `Dropbox answered: ${why}.`),
      h("a", { class: "button", href: back }, "Back to the form"),
    );
    return;
  }
  await loadOrganizations();
  try {
    const dialect = saved.form.dialect;
    const created = await post(`/${dialect}/api-v2/instances`, instanceBody(saved, query.get("code")), {
      auth: platformAuth(),
    });
    sessionStorage.removeItem(FORM_KEY);
    sessionStorage.setItem(DONE_KEY, JSON.stringify({ dialect, instance: created }));
    // Replaced, not pushed: going back must not post the used code again.
    history.replaceState(null, "", "/_emulator/ui/#/done");
  } catch (error) {
    main.append(
      heading("The instance was not created"),
      h("p", { class: "error", role: "alert" }, error.message),
      h("a", { class: "button", href: back }, "Back to the form"),
    );
  }
}

// -- Done ---------------------------------------------------------------------------------------
export function doneView(main) {
  const saved = JSON.parse(sessionStorage.getItem(DONE_KEY) || "null");
  if (!saved) {
    location.hash = "#/instances";
    return;
  }
  const instance = saved.instance;
  const connector = instance[SINGULAR[saved.dialect]] || {};
  const config = instance.configuration || {};
  const events = instance.eventsEnabled
    ? `${config["event.vendor.type"] || "webhook"} to ${config["event.notification.callback.url"]}`
    : "off";
  const account = h("span", { id: "done-account" }, store.instances.get(instance.id)?.account || "");
  const rows = [
    ["Id", String(instance.id)],
    ["Name", instance.name],
    ["Connector", connector.name || ""],
    ["Dropbox account", account],
    ["Token", h("code", { id: "done-token" }, instance.token)],
    ["Event notifications", events],
    ["Created", instance.createdDate],
  ];
  main.append(
    heading("Instance created"),
    h(
      "p",
      { class: "lead" },
      "Keep the token: hub calls send it as ",
      h("code", {}, `${title(SINGULAR[saved.dialect])} <token>`),
      ".",
    ),
    h(
      "dl",
      { class: "facts panel", id: "done-facts" },
      rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
    ),
    h("details", {}, h("summary", {}, "The API's answer"), h("pre", { class: "code" }, pretty(instance))),
    h(
      "p",
      { class: "buttons" },
      h("button", { type: "button", class: "primary", id: "done", onclick: finish }, "Done"),
    ),
  );
  // The account is the emulator's to tell (the API's answer does not say): from the live stream.
  return onChange(() => {
    account.textContent = store.instances.get(instance.id)?.account || "";
  });
}

function finish() {
  sessionStorage.removeItem(DONE_KEY);
  location.hash = "#/instances";
}
