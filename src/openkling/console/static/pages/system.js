import { api } from "../api.js";
import { h, table } from "../dom.js";

export const title = () => "System";

const REFRESH_MS = 5000;

export async function render(ctx) {
  const body = h("div");

  async function load() {
    const [system, readiness] = await Promise.all([api.system(), api.readiness()]);
    if (!ctx.current()) return;
    const channels = system.channels;
    body.replaceChildren(
      h("h2", {}, "Readiness"),
      h("dl", { class: "facts" },
        fact("GET /readyz", h("span", { class: `badge ${readiness.status === 200
          ? "status-succeed" : "status-failed"}` }, `HTTP ${readiness.status}`)),
        fact("Body", h("code", {}, readiness.body)),
        fact("Database", system.database),
        fact("Version", system.version),
        fact("Worker in this process", system.embedded_worker ? "yes" : "no")),
      h("div", { class: "table-wrap" }, table("Providers", [
        { label: "Provider", cell: (p) => p.name },
        { label: "State", cell: (p) => h("span", { class: `badge ${p.state === "ready"
            ? "status-succeed" : "status-failed"}` }, p.state) },
        { label: "Unfinished tasks", cell: (p) => String(p.unfinished_tasks) },
      ], system.providers)),
      h("div", { class: "table-wrap" }, table("Models", [
        { label: "Model", cell: (m) => m.name + (m.default ? " (default)" : "") },
        { label: "Provider", cell: (m) => m.provider },
        { label: "Durations", cell: (m) => m.durations.join(", ") },
      ], system.models)),
      h("h2", {}, "Relay channels"),
      !channels.configured
        ? h("p", { class: "help" }, "No model is routed to the kling relay on this server.")
        : channels.error
          ? h("p", { class: "error", role: "alert" }, channels.error)
          : h("div", { class: "table-wrap" }, table("Relay channels", [
              { label: "Channel", cell: (c) => c.name },
              { label: "Upstream", cell: (c) => c.base_url + c.path_prefix },
              { label: "Models", cell: (c) => (c.models ? c.models.join(", ") : "all") },
              { label: "Priority / weight", cell: (c) => `${c.priority} / ${c.weight}` },
              { label: "In flight / max", cell: (c) => `${c.in_flight} / ${c.max_concurrency}` },
            ], channels.items)),
      channels.configured && channels.waiting_for_channel
        ? h("p", { class: "help" }, `${channels.waiting_for_channel} relay task(s) waiting for ` +
          "a channel.") : "",
    );
  }

  await load();
  ctx.every(REFRESH_MS, () => load().catch(() => {}));  // a failed refresh keeps the last view
  return h("section", {}, h("h1", {}, "System"),
    h("p", { class: "help" }, "Refreshes every 5 seconds."), body);
}

function fact(term, value) {
  return h("div", { class: "fact" }, h("dt", {}, term), h("dd", {}, value));
}
