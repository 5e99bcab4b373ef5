import { api } from "../api.js";
import { h, progressBar, statusBadge, table, timeCell, errorBox } from "../dom.js";
import { familyOf } from "../families.js";

export const title = (ctx) => `Task ${ctx.match[1]}`;

const REFRESH_MS = 2000;
const unfinished = (t) => t.task_status === "submitted" || t.task_status === "processing";

const CALLBACK_COLUMNS = [
  { label: "Event", cell: (d) => d.task_status || "" },
  { label: "Delivery", cell: (d) => h("span", { class: `badge delivery-${d.state}` }, d.state) },
  { label: "Attempts", cell: (d) => String(d.attempts) },
  { label: "Queued", cell: (d) => timeCell(d.created_at) },
  { label: "Finished", cell: (d) => timeCell(d.finished_at) },
  { label: "Last error", cell: (d) => d.last_error || "" },
];

export async function render(ctx) {
  const id = ctx.match[1];
  let task = await api.task(id);
  const family = familyOf(task.family);

  const summary = h("div", { class: "summary", "aria-live": "polite" });
  const result = h("div", { class: "result" });
  const actions = h("div", { class: "actions" });
  const actionStatus = h("div", { class: "form-status" });
  const callbacks = h("div", { class: "table-wrap" });
  const cancel = h("button", { type: "button", class: "danger", id: "cancel-task",
    async onclick() {
      cancel.disabled = true;
      actionStatus.replaceChildren();
      try {
        await api.cancel(family?.path || task.family, task.task_id);
        ctx.notify(`Cancel requested for task ${task.task_id}.`);
        await refresh();
      } catch (error) {
        actionStatus.replaceChildren(errorBox(error));
      } finally {
        cancel.disabled = false;
      }
    } }, "Cancel task");
  actions.append(cancel);

  let resultShown = false;
  function paint() {
    summary.replaceChildren(h("dl", { class: "facts" },
      fact("Status", statusBadge(task.task_status)),
      fact("Progress", progressBar(task)),
      task.task_status_msg ? fact("Message", task.task_status_msg) : "",
      fact("Family", family?.label || task.family),
      fact("Model", task.model_name),
      fact("Created", timeCell(task.created_at)),
      fact("Updated", timeCell(task.updated_at)),
      task.task_info?.external_task_id ? fact("External id", task.task_info.external_task_id)
        : "",
    ));
    cancel.hidden = !unfinished(task);
    // The signed URLs change on every read; set the result once, when the task succeeds.
    if (task.task_status === "succeed" && !resultShown) {
      resultShown = true;
      result.replaceChildren(h("h2", {}, "Result"), ...videosOf(task), imagesOf(task));
    }
    callbacks.replaceChildren(task.callbacks.length || task.callback_url
      ? table("Callback deliveries", CALLBACK_COLUMNS, task.callbacks)
      : h("p", { class: "help" }, "No callback URL was given for this task."));
  }

  async function refresh() {
    try {
      task = await api.task(id);
    } catch (error) {
      if (error.status !== 401) actionStatus.replaceChildren(errorBox(error));
      return;
    }
    if (ctx.current()) paint();
  }

  paint();
  ctx.every(REFRESH_MS, () => { if (unfinished(task)) refresh(); });
  const request = task.request || {};
  return h("section", {},
    h("p", { class: "crumbs" }, h("a", { href: "#/tasks" }, "← All tasks")),
    h("h1", {}, `Task ${task.task_id}`),
    summary, actions, actionStatus, result,
    h("h2", {}, "Request"),
    h("dl", { class: "facts request" },
      Object.entries(request).filter(([, v]) => v !== null && v !== "").map(([k, v]) =>
        fact(k, typeof v === "object" ? JSON.stringify(v) : String(v))),
      task.callback_url ? fact("callback_url", task.callback_url) : ""),
    h("h2", {}, "Callbacks"),
    task.callback_url ? h("p", { class: "help" }, `Sent to ${task.callback_url}`) : "",
    callbacks,
  );
}

// Only http(s) links become players, images and downloads (a relayed URL comes from upstream).
const web = (item) => /^https?:\/\//i.test(item.url);

function videosOf(task) {
  return (task.task_result.videos || []).filter(web).map((video, i) =>
    h("figure", { class: "video" },
      h("video", { src: video.url, controls: true, preload: "auto", playsInline: true,
        "aria-label": `Video ${i + 1} of task ${task.task_id}` }),
      h("figcaption", {}, `${video.duration} s · `,
        h("a", { href: video.url, download: `${task.task_id}.mp4`, class: "download" },
          "Download"))));
}

function imagesOf(task) {
  const images = (task.task_result.images || []).filter(web);
  if (!images.length) return "";
  return h("ul", { class: "gallery", "aria-label": `Images of task ${task.task_id}` },
    images.map((image) => {
      const number = Number(image.index) + 1;
      const suffix = /\.(\w{2,5})$/.exec(new URL(image.url).pathname)?.[1] || "png";
      return h("li", {}, h("figure", {},
        h("a", { href: image.url, target: "_blank", rel: "noopener" },
          h("img", { src: image.url, alt: `Image ${number} of ${images.length}`,
            loading: "lazy" })),
        h("figcaption", {}, `Image ${number} · `,
          h("a", { href: image.url, download: `${task.task_id}-${image.index}.${suffix}`,
            class: "download", "aria-label": `Download image ${number}` }, "Download"))));
    }));
}

function fact(term, value) {
  return h("div", { class: "fact" }, h("dt", {}, term), h("dd", {}, value));
}
