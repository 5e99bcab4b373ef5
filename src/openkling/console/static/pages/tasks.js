import { api } from "../api.js";
import { h, progressBar, statusBadge, table, timeCell, errorBox } from "../dom.js";
import { familyOf } from "../families.js";

export const title = () => "Tasks";

const STATUSES = [
  ["", "All"], ["unfinished", "Unfinished"], ["submitted", "Submitted"],
  ["processing", "Processing"], ["succeed", "Succeeded"], ["failed", "Failed"],
];
const SIZES = [10, 20, 50, 100];
const REFRESH_MS = 2000;

const COLUMNS = [
  { label: "Task", cell: (t) => h("a", { href: `#/tasks/${t.task_id}`, "data-task": t.task_id },
      t.task_id) },
  { label: "Status", cell: (t) => statusBadge(t.task_status) },
  { label: "Progress", cell: (t) => progressBar(t) },
  { label: "Family", cell: (t) => familyOf(t.family)?.label || t.family },
  { label: "Model", cell: (t) => t.model_name },
  { label: "Prompt", cell: (t) => h("span", { class: "prompt", title: t.prompt }, t.prompt) },
  { label: "Created", cell: (t) => timeCell(t.created_at) },
  { label: "Updated", cell: (t) => timeCell(t.updated_at) },
];

const unfinished = (t) => t.task_status === "submitted" || t.task_status === "processing";

export async function render(ctx) {
  const status = STATUSES.some(([v]) => v === ctx.params.get("status"))
    ? ctx.params.get("status") : "";
  const page = Math.max(1, Number.parseInt(ctx.params.get("page") || "1", 10) || 1);
  const size = SIZES.includes(Number(ctx.params.get("size"))) ? Number(ctx.params.get("size"))
    : 20;
  const link = (changes) => {
    const query = new URLSearchParams({ status, page, size, ...changes });
    if (!query.get("status")) query.delete("status");
    return `#/tasks?${query}`;
  };

  const filters = h("form", { class: "filters", onsubmit: (e) => e.preventDefault() },
    h("label", { for: "filter-status" }, "Status"),
    h("select", { id: "filter-status", onchange: (e) => ctx.go(link({ status: e.target.value,
      page: 1 })) },
      STATUSES.map(([value, label]) => h("option", { value, selected: value === status },
        label))),
    h("label", { for: "filter-size" }, "Per page"),
    h("select", { id: "filter-size", onchange: (e) => ctx.go(link({ size: e.target.value,
      page: 1 })) },
      SIZES.map((n) => h("option", { value: n, selected: n === size }, String(n)))),
  );
  const live = h("p", { class: "help", id: "refresh-state" });
  const holder = h("div", { class: "table-wrap" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });

  let shown = [];
  async function load() {
    let items;
    try {
      items = await api.tasks({ page, size, status });
    } catch (error) {
      if (error.status !== 401) holder.replaceChildren(errorBox(error));
      return;
    }
    if (!ctx.current()) return;
    const sameRows = items.length === shown.length &&
      items.every((t, i) => t.task_id === shown[i].task_id);
    if (sameRows && holder.querySelector("table")) updateRows(holder, items);
    else {
      const focused = document.activeElement?.dataset?.task;
      holder.replaceChildren(table(`Tasks, page ${page}`, COLUMNS, items,
        (t) => ({ "data-row": t.task_id })));
      if (focused) holder.querySelector(`[data-task="${focused}"]`)?.focus();
    }
    shown = items;
    const running = items.some(unfinished);
    live.textContent = running ? "Refreshing every 2 seconds while tasks are unfinished." : "";
    pager.replaceChildren(
      page > 1 ? h("a", { href: link({ page: page - 1 }), rel: "prev" }, "← Newer") : "",
      h("span", { "aria-current": "page" }, `Page ${page}`),
      items.length === size ? h("a", { href: link({ page: page + 1 }), rel: "next" }, "Older →")
        : "",
    );
  }

  await load();
  ctx.every(REFRESH_MS, () => { if (shown.some(unfinished)) load(); });
  return h("section", {},
    h("div", { class: "page-head" }, h("h1", {}, "Tasks"),
      h("a", { class: "button", href: "#/create" }, "New task")),
    filters, live, holder, pager);
}

function updateRows(holder, items) {
  for (const t of items) {
    const row = holder.querySelector(`tr[data-row="${t.task_id}"]`);
    if (!row) continue;
    const cells = row.children;
    COLUMNS.forEach((column, i) => {
      if (["Status", "Progress", "Updated"].includes(column.label)) {
        cells[i].replaceChildren(column.cell(t));
      }
    });
  }
}
