// The fake Dropbox accounts of the signed-in user's tenant: a browsable tree with upload, new folder,
// rename, delete and download. Each is a change made "at Dropbox" (the control plane's operations),
// so every instance linked to the account hears of it, exactly as for a change in the Dropbox app.

import { get, post, session, tenantQuery } from "./api.js";
import { formatBytes, formatTime, h, heading, problemText, replaceContent, toast } from "./dom.js";
import { coalesce, instancesInOrder, onChange } from "./store.js";

const ACCOUNTS = "/_emulator/providers/dropbox/accounts";

export async function dropboxView(main, params) {
  const accounts = await get(`${ACCOUNTS}?${tenantQuery()}`);
  main.append(
    heading("Dropbox accounts"),
    h(
      "p",
      { class: "lead" },
      "Changes made here are made at Dropbox: every instance linked to the account is told, by webhook ",
      "or at its next poll.",
    ),
  );
  if (!accounts.length) {
    main.append(h("p", {}, "This tenant has no Dropbox account."));
    return undefined;
  }
  const key =
    params.account && accounts.some((a) => a.key === params.account) ? params.account : accounts[0].key;
  main.append(accountTabs(accounts, key));
  const account = accounts.find((a) => a.key === key);
  const view = { account, entries: [], selected: "", collapsed: new Set(), form: null, draft: "", error: "" };
  const body = h("div", { class: "dropbox" });
  main.append(body);
  view.render = () => replaceContent(body, toolbar(view), tree(view));
  view.reload = async () => {
    const answer = await get(`${ACCOUNTS}/${encodeURIComponent(key)}/tree?${tenantQuery()}`);
    view.entries = answer.entries;
    if (view.selected && !view.entries.some((e) => e.path_lower === view.selected.toLowerCase()))
      view.selected = "";
    view.render();
  };
  await view.reload();
  const tenant = session()?.org.tenant || "default";
  const relink = coalesce(() => {
    const line = document.getElementById("linked-instances");
    if (line) line.textContent = linkedText(view);
  });
  return onChange((kind, data) => {
    if (kind === "account" && data.account === key && data.tenant === tenant) view.reload();
    if (kind === "instance") relink();
  });
}

function accountTabs(accounts, current) {
  return h(
    "nav",
    { "aria-label": "Accounts", class: "tabs" },
    h(
      "ul",
      {},
      accounts.map((a) =>
        h(
          "li",
          {},
          h(
            "a",
            {
              href: `#/dropbox/${encodeURIComponent(a.key)}`,
              "aria-current": a.key === current ? "page" : null,
            },
            a.key,
            h("small", {}, ` ${a.displayName}`),
          ),
        ),
      ),
    ),
  );
}

function linkedText(view) {
  const tenant = session()?.org.tenant || "default";
  const linked = instancesInOrder().filter((i) => i.account === view.account.key && i.tenant === tenant);
  if (!linked.length) return "No instance is linked to this account.";
  const names = linked.map((i) => `#${i.id} (${i.eventsEnabled ? i.vendorType : "events off"})`);
  return `Linked instances: ${names.join(", ")}.`;
}

// -- the selection and what can be done to it ---------------------------------------------------
function selectedEntry(view) {
  const lower = view.selected.toLowerCase();
  return view.entries.find((e) => e.path_lower === lower) || null;
}

function targetFolder(view) {
  const entry = selectedEntry(view);
  if (!entry) return "";
  return entry[".tag"] === "folder" ? entry.path_display : parentOf(entry.path_display);
}

function parentOf(path) {
  return path.slice(0, path.lastIndexOf("/"));
}

function toolbar(view) {
  const entry = selectedEntry(view);
  const folder = targetFolder(view);
  const where = folder || "/";
  const upload = h("input", {
    type: "file",
    id: "upload",
    dataset: { focus: "upload" },
    onchange: (e) => uploadFiles(view, e.target),
  });
  const pick = (form) => () => {
    view.form = form;
    view.draft = form === "rename" ? entry.name : "";
    view.error = "";
    view.render();
    document.querySelector("#op-form input, #op-form button.danger")?.focus();
  };
  return h(
    "section",
    { class: "panel toolbar", "aria-label": "Change at Dropbox" },
    h(
      "p",
      { class: "selected" },
      "Selected: ",
      h("strong", { id: "selected-path" }, entry ? entry.path_display : "/"),
      entry ? ` (${entry[".tag"]})` : " (the root folder)",
      h("br"),
      h("small", { id: "linked-instances" }, linkedText(view)),
    ),
    h("div", { class: "field inline" }, h("label", { for: "upload" }, `Upload a file to ${where}`), upload),
    h(
      "p",
      { class: "buttons" },
      h("button", { type: "button", dataset: { focus: "op-mkdir" }, onclick: pick("mkdir") }, "New folder"),
      entry
        ? h("button", { type: "button", dataset: { focus: "op-rename" }, onclick: pick("rename") }, "Rename")
        : null,
      entry
        ? h(
            "button",
            { type: "button", class: "danger", dataset: { focus: "op-delete" }, onclick: pick("delete") },
            "Delete",
          )
        : null,
      entry && entry[".tag"] === "file"
        ? h("a", { class: "button", href: downloadUrl(view, entry), download: entry.name }, "Download")
        : null,
    ),
    view.form ? opForm(view, entry, folder) : null,
    view.error ? h("p", { class: "error", role: "alert" }, view.error) : null,
  );
}

function downloadUrl(view, entry) {
  const query = `path=${encodeURIComponent(entry.path_display)}&${tenantQuery()}`;
  return `${ACCOUNTS}/${encodeURIComponent(view.account.key)}/files?${query}`;
}

function opForm(view, entry, folder) {
  const cancel = h("button", { type: "button", onclick: () => closeForm(view) }, "Cancel");
  if (view.form === "delete") {
    return h(
      "form",
      {
        id: "op-form",
        class: "subform",
        onsubmit: (e) => submitOp(e, view, { op: "delete", path: entry.path_display }),
      },
      h("p", {}, `Delete ${entry.path_display}${entry[".tag"] === "folder" ? " and everything in it" : ""}?`),
      h("button", { type: "submit", class: "danger" }, "Yes, delete"),
      cancel,
    );
  }
  const renaming = view.form === "rename";
  // The draft lives in the view: a live update rebuilds the form while someone types.
  const input = h("input", {
    id: "op-name",
    name: "name",
    required: true,
    value: view.draft,
    dataset: { focus: "op-name" },
    oninput: () => {
      view.draft = input.value;
    },
  });
  const submit = (e) => {
    const name = input.value.trim();
    const op = renaming
      ? { op: "move", path: entry.path_display, to: `${parentOf(entry.path_display)}/${name}` }
      : { op: "mkdir", path: `${folder}/${name}` };
    submitOp(e, view, op);
  };
  return h(
    "form",
    { id: "op-form", class: "subform", onsubmit: submit },
    h(
      "label",
      { for: "op-name" },
      renaming ? `New name for ${entry.path_display}` : `New folder in ${folder || "/"}`,
    ),
    input,
    h("button", { type: "submit", class: "primary" }, renaming ? "Rename" : "Create folder"),
    cancel,
  );
}

function closeForm(view) {
  view.form = null;
  view.render();
}

async function operate(view, operation) {
  const url = `${ACCOUNTS}/${encodeURIComponent(view.account.key)}/operations?${tenantQuery()}`;
  const answer = await post(url, operation);
  return answer.metadata;
}

async function submitOp(event, view, operation) {
  event.preventDefault();
  try {
    const metadata = await operate(view, operation);
    view.form = null;
    view.error = "";
    if (operation.op !== "delete") view.selected = metadata.path_display;
    toast(`${describe(operation)} at Dropbox.`);
  } catch (error) {
    view.error = problemText(error);
  }
  await view.reload();
}

function describe(operation) {
  if (operation.op === "mkdir") return `Folder ${operation.path} created`;
  if (operation.op === "move") return `${operation.path} renamed to ${operation.to}`;
  return `${operation.path} deleted`;
}

async function uploadFiles(view, input) {
  const folder = targetFolder(view);
  for (const file of [...input.files]) {
    try {
      const base64 = await fileBase64(file);
      const metadata = await operate(view, { op: "upload", path: `${folder}/${file.name}`, base64 });
      view.selected = metadata.path_display;
      view.error = "";
      toast(`Uploaded ${metadata.path_display} (${formatBytes(metadata.size)}) at Dropbox.`);
    } catch (error) {
      view.error = problemText(error);
    }
  }
  await view.reload();
}

function fileBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ""));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

// -- the tree -----------------------------------------------------------------------------------
function tree(view) {
  const children = new Map();
  for (const entry of view.entries) {
    const parent = parentOf(entry.path_lower);
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(entry);
  }
  const rootRow = row(view, null, children);
  return h("ul", { class: "tree", "aria-label": `Files of ${view.account.key}` }, rootRow);
}

function row(view, entry, children) {
  const lower = entry ? entry.path_lower : "";
  const isFolder = !entry || entry[".tag"] === "folder";
  const kids = isFolder ? children.get(lower) || [] : [];
  const open = !view.collapsed.has(lower);
  const selected = view.selected.toLowerCase() === lower;
  const name = entry ? entry.name : `/ (${view.account.key})`;
  const toggle =
    isFolder && kids.length
      ? h(
          "button",
          {
            type: "button",
            class: "toggle",
            "aria-expanded": String(open),
            "aria-label": `${open ? "Collapse" : "Expand"} ${name}`,
            dataset: { focus: `toggle:${lower}` },
            onclick: () => {
              if (open) view.collapsed.add(lower);
              else view.collapsed.delete(lower);
              view.render();
            },
          },
          open ? "▾" : "▸",
        )
      : h("span", { class: "toggle-space" });
  const pick = h(
    "button",
    {
      type: "button",
      class: `entry ${isFolder ? "folder" : "file"}`,
      "aria-pressed": String(selected),
      dataset: { focus: `entry:${lower}`, path: entry ? entry.path_display : "/" },
      onclick: () => {
        view.selected = entry ? entry.path_display : "";
        view.form = null;
        view.render();
      },
    },
    name,
  );
  const meta =
    entry && !isFolder
      ? h("span", { class: "meta" }, formatBytes(entry.size), " · ", formatTime(entry.server_modified))
      : null;
  return h(
    "li",
    {},
    h("div", { class: `row${selected ? " selected" : ""}` }, toggle, pick, meta),
    kids.length && open
      ? h(
          "ul",
          {},
          kids.map((kid) => row(view, kid, children)),
        )
      : null,
  );
}
