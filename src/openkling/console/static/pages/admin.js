import { api } from "../api.js";
import { h, table, timeCell, errorBox } from "../dom.js";

export const title = () => "Accounts & keys";

export async function render(ctx) {
  const status = h("div", { class: "form-status", id: "admin-status" });
  const accountsHolder = h("div", { class: "table-wrap" });
  const keysHolder = h("div", { class: "table-wrap" });
  const secrets = h("div", { id: "new-secrets" });

  async function act(work, done) {
    status.replaceChildren();
    try {
      await work();
      if (done) ctx.notify(done);
    } catch (error) {
      if (error.status !== 401) status.replaceChildren(errorBox(error));
    }
    await load();
  }

  const accountColumns = [
    { label: "Account", cell: (a) => a.name },
    { label: "Role", cell: (a) => (a.is_admin ? "admin" : "user") },
    { label: "State", cell: (a) => h("span", { class: `badge ${a.disabled ? "status-failed"
        : "status-succeed"}` }, a.disabled ? "disabled" : "active") },
    { label: "Active keys", cell: (a) => String(a.active_keys) },
    { label: "Unfinished tasks", cell: (a) => String(a.unfinished_tasks) },
    { label: "Created", cell: (a) => timeCell(a.created_at) },
    { label: "Actions", cell: (a) => a.name === ctx.me.account ? "(you)" : h("button", {
        type: "button", class: a.disabled ? "" : "danger",
        "aria-label": `${a.disabled ? "Enable" : "Disable"} account ${a.name}`,
        onclick: () => act(() => api.setDisabled(a.id, !a.disabled),
          `Account ${a.name} ${a.disabled ? "enabled" : "disabled"}.`),
      }, a.disabled ? "Enable" : "Disable") },
  ];
  const keyColumns = [
    { label: "Id", cell: (k) => String(k.id) },
    { label: "Account", cell: (k) => k.account },
    { label: "Label", cell: (k) => k.label },
    { label: "API key", cell: (k) => h("code", {}, k.api_key_hint) },
    { label: "Access key", cell: (k) => h("code", {}, k.access_key) },
    { label: "Created", cell: (k) => timeCell(k.created_at) },
    { label: "State", cell: (k) => (k.revoked_at ? h("span", {}, "revoked ",
        timeCell(k.revoked_at)) : "active") },
    { label: "Actions", cell: (k) => k.revoked_at ? ""
      : k.id === ctx.me.credential_id ? "(this key)" : h("button", {
        type: "button", class: "danger", "data-revoke": k.id,
        "aria-label": `Revoke key ${k.id} (${k.api_key_hint}) of ${k.account}`,
        onclick: () => {
          if (!window.confirm(`Revoke key ${k.api_key_hint} of ${k.account}? ` +
              "Its API key and JWTs stop working within seconds.")) return;
          act(() => api.revokeKey(k.id), `Key ${k.id} revoked.`);
        },
      }, "Revoke") },
  ];

  async function load() {
    const [accounts, keys] = await Promise.all([api.accounts(), api.keys()]);
    if (!ctx.current()) return;
    accountsHolder.replaceChildren(table("Accounts", accountColumns, accounts));
    keysHolder.replaceChildren(table("Keys", keyColumns, keys));
  }

  const name = h("input", { id: "new-account", name: "account", required: true, maxLength: 128,
    autocomplete: "off", "aria-describedby": "new-account-help" });
  const label = h("input", { id: "new-label", name: "label", maxLength: 128,
    autocomplete: "off" });
  const isAdmin = h("input", { id: "new-admin", name: "admin", type: "checkbox" });
  const createForm = h("form", { class: "card", id: "create-key-form", async onsubmit(event) {
    event.preventDefault();
    if (!createForm.reportValidity()) return;
    await act(async () => {
      const made = await api.createKey({ account: name.value, label: label.value || null,
        admin: isAdmin.checked });
      secrets.replaceChildren(h("div", { class: "card secrets", role: "alert" },
        h("h3", {}, `New key for ${made.account}${made.account_created ? " (new account)" : ""}`),
        h("p", {}, "Copy these now: they are not shown again."),
        h("dl", { class: "facts" },
          ...[["API key", made.api_key], ["Access key", made.access_key],
            ["Secret key", made.secret_key], ["Callback signing secret", made.callback_secret]]
            .filter(([, v]) => v)
            .map(([k, v]) => h("div", { class: "fact" }, h("dt", {}, k),
              h("dd", {}, h("code", { class: "secret" }, v)))))));
      createForm.reset();
    }, "Key created.");
  } },
    h("div", { class: "field" }, h("label", { for: "new-account" }, "Account name"), name,
      h("p", { id: "new-account-help", class: "help" },
        "An existing account gets another key; a new name creates the account.")),
    h("div", { class: "field" }, h("label", { for: "new-label" }, "Label (optional)"), label),
    h("div", { class: "field check" }, isAdmin,
      h("label", { for: "new-admin" }, "Make this account an admin")),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create key")));

  await load();
  return h("section", {},
    h("h1", {}, "Accounts & keys"),
    status,
    h("h2", {}, "Create a key"), createForm, secrets,
    accountsHolder,
    h("p", { class: "help" }, "A revoked key or a disabled account is refused by every API " +
      "process within the auth cache time (OPENKLING_AUTH_CACHE_SECONDS, 2 s by default)."),
    keysHolder);
}
