import { api } from "../api.js";
import { h, table } from "../dom.js";

export const title = () => "System";

const REFRESH_MS = 5000;

export async function render(ctx) {
  const body = h("div");

  async function load() {
    const [system, readiness, metrics] = await Promise.all([api.system(), api.readiness(),
      api.metrics()]);
    if (!ctx.current()) return;
    const channels = system.channels;
    body.replaceChildren(
      glance(metrics),
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
      (system.local_models || []).length
        ? h("div", { class: "table-wrap" }, table("Local models (GPU memory: estimates unless " +
            "marked measured)", [
            { label: "Model", cell: (m) => m.name + (m.served ? "" : " (not configured)") },
            { label: "Families", cell: (m) => m.families.map((f) => f.split("/").pop()).join(", ") },
            { label: "Pipeline", cell: (m) => m.pipeline },
            { label: "fps / frame step", cell: (m) => (m.fps ? `${m.fps} / ${m.frame_step}` : "-") },
            { label: "Sound", cell: (m) => (m.audio ? "yes" : "no") },
            { label: "GPU GiB (offload)", cell: (m) => (m.memory_gib === null ? "-"
              : `${m.memory_gib} (${m.memory_offload_gib})${m.memory_measured ? "" : " est."}`) },
            { label: "Test model", cell: (m) => m.test_model || "-" },
            { label: "Kling model names", cell: (m) => Object.entries(m.kling_models)
              .map(([f, names]) => `${f.split("/").pop()}: ${names.join(", ")}`).join("; ") || "-" },
          ], system.local_models))
        : "",
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

// Each figure carries its path in the /admin/v1/metrics answer (data-metric), as the tests read it.
function glance(m) {
  const stat = (label, path, value, alert = false) => h("div", {
    class: `stat${alert && value ? " alert" : ""}` },
    h("dt", {}, label), h("dd", { "data-metric": path }, String(value)));
  const age = m.queue.oldest_submitted_age_seconds;
  const requests = m.requests.scope === "host" ? "this host's processes" : "this process";
  return h("section", { "aria-labelledby": "glance-title" },
    h("h2", { id: "glance-title" }, "At a glance"),
    h("dl", { class: "glance" },
      stat("Submitted", "tasks.by_status.submitted", m.tasks.by_status.submitted),
      stat("Processing", "tasks.by_status.processing", m.tasks.by_status.processing),
      stat("Succeeded", "tasks.by_status.succeed", m.tasks.by_status.succeed),
      stat("Failed", "tasks.by_status.failed", m.tasks.by_status.failed),
      stat("Queue depth", "queue.depth", m.queue.depth),
      stat("Oldest waiting (s)", "queue.oldest_submitted_age_seconds", age.toFixed(1)),
      stat("Created, last minute", "created.last_minute", m.created.last_minute),
      stat("Created, last hour", "created.last_hour", m.created.last_hour),
      stat("Creates accepted", "requests.creates_accepted", m.requests.creates_accepted),
      stat("Creates refused", "requests.creates_refused", m.requests.creates_refused),
      stat("Polls", "requests.polls", m.requests.polls),
      stat("Callbacks failed, last hour", "callbacks.failed_last_hour",
        m.callbacks.failed_last_hour, true),
      stat("Callbacks pending", "callbacks.pending", m.callbacks.pending),
      stat("Relay in flight", "relay.in_flight", m.relay.in_flight),
      stat("Relay waiting for a channel", "relay.waiting_for_channel",
        m.relay.waiting_for_channel)),
    h("p", { class: "help" }, "Task, queue, callback and relay figures are the database's " +
      `(all processes). Request counts are ${requests}'s since it started.`));
}

function fact(term, value) {
  return h("div", { class: "fact" }, h("dt", {}, term), h("dd", {}, value));
}
