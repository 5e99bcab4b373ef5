import { api } from "../api.js";
import { h, table, timeCell, errorBox } from "../dom.js";

export const title = () => "Quotas";

const units = (n) => Number(n).toLocaleString("en", { maximumFractionDigits: 3 });
const PACK_STATES = { online: "status-succeed", toBeOnline: "status-submitted",
  expired: "status-failed", runOut: "status-failed" };

const ACCOUNT_COLUMNS = [
  { label: "Account", cell: (q) => q.account },
  { label: "Metered", cell: (q) => (q.metered ? "yes" : "no (no packs: unlimited)") },
  { label: "Units left in effect", cell: (q) => (q.metered
      ? h("span", { "data-remaining": q.account }, units(q.remaining_units)) : "") },
  { label: "Packs", cell: (q) => String(q.packs.length) },
];
const PACK_COLUMNS = [
  { label: "Account", cell: (p) => p.account },
  { label: "Pack", cell: (p) => p.resource_pack_name },
  { label: "Total", cell: (p) => units(p.total_quantity) },
  { label: "Remaining", cell: (p) => units(p.remaining_quantity) },
  { label: "Status", cell: (p) => h("span", { class: `badge ${PACK_STATES[p.status] || ""}` },
      p.status) },
  { label: "Effective", cell: (p) => timeCell(p.effective_time) },
  { label: "Expires", cell: (p) => (p.invalid_time ? timeCell(p.invalid_time) : "never") },
];

export async function render(ctx) {
  const status = h("div", { class: "form-status", id: "quota-status" });
  const accountsHolder = h("div", { class: "table-wrap" });
  const packsHolder = h("div", { class: "table-wrap" });

  const account = h("select", { id: "quota-account", name: "account", required: true });
  const amount = h("input", { id: "quota-units", name: "units", type: "number", required: true,
    min: 0.001, max: 1e12, step: "any", inputMode: "decimal",
    "aria-describedby": "quota-units-help" });
  const days = h("input", { id: "quota-days", name: "days", type: "number", min: 1,
    max: 36500, step: 1, inputMode: "numeric", "aria-describedby": "quota-expiry-help" });
  const expires = h("input", { id: "quota-expires", name: "expires", type: "date",
    "aria-describedby": "quota-expiry-help" });
  const name = h("input", { id: "quota-name", name: "name", maxLength: 128, autocomplete: "off" });

  async function load() {
    const quotas = await api.quotas();
    if (!ctx.current()) return;
    const previous = account.value;
    account.replaceChildren(...quotas.map((q) =>
      h("option", { value: q.account_id }, q.account)));
    if (quotas.some((q) => String(q.account_id) === previous)) account.value = previous;
    accountsHolder.replaceChildren(table("Accounts", ACCOUNT_COLUMNS, quotas));
    const packs = quotas.flatMap((q) => q.packs.map((p) => ({ ...p, account: q.account })));
    packsHolder.replaceChildren(table("Resource packs", PACK_COLUMNS, packs,
      (p) => ({ "data-pack": p.resource_pack_id })));
  }

  const form = h("form", { class: "card", id: "quota-form", async onsubmit(event) {
    event.preventDefault();
    if (!form.reportValidity()) return;
    status.replaceChildren();
    const body = { units: Number(amount.value) };
    if (name.value.trim()) body.name = name.value.trim();
    if (days.value) body.days = Number(days.value);
    // A date is its midnight UTC, as `openkling quota add --expires` reads one.
    if (expires.value) body.expires_at = Date.parse(`${expires.value}T00:00:00Z`);
    const who = account.selectedOptions[0]?.textContent;
    try {
      const pack = await api.addQuota(account.value, body);
      ctx.notify(`Added ${units(pack.total_quantity)} units to ${who}.`);
      form.reset();
      account.value = String(pack.account_id);
    } catch (error) {
      // The API's own message: it names the field (days, expires_at, units, ...).
      if (error.status !== 401) status.replaceChildren(errorBox(error));
    }
    await load();
  } },
    h("div", { class: "field" }, h("label", { for: "quota-account" }, "Account"), account),
    h("div", { class: "field" }, h("label", { for: "quota-units" }, "Units"), amount,
      h("p", { id: "quota-units-help", class: "help" },
        "What the pack holds. Prices per family are OPENKLING_UNIT_PRICES.")),
    h("div", { class: "field" }, h("label", { for: "quota-days" }, "Valid for (days)"), days),
    h("div", { class: "field" }, h("label", { for: "quota-expires" }, "Or expires on"), expires,
      h("p", { id: "quota-expiry-help", class: "help" },
        "Give one or neither (never expires). A date means its start, UTC.")),
    h("div", { class: "field" }, h("label", { for: "quota-name" }, "Pack name (optional)"), name),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Add quota")),
    status);

  await load();
  return h("section", {},
    h("h1", {}, "Quotas"),
    h("p", { class: "help" }, "An account without packs is unmetered. Once it has one, each " +
      "create holds its units on the pack in effect that expires first, and is refused " +
      "(429 / 1102) when none has enough left; failed or cancelled tasks give the units back."),
    h("h2", {}, "Add a quota"), form,
    accountsHolder, packsHolder);
}
