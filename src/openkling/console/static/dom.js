// Small DOM helpers. Text from the server only ever goes through textContent (never innerHTML).

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2).toLowerCase(), value);
    else if (name === "class") node.className = value;
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function formatTime(ms) {
  if (!ms) return "";
  const date = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

export function timeCell(ms) {
  return ms ? h("time", { datetime: new Date(ms).toISOString() }, formatTime(ms)) : "";
}

export function statusBadge(status) {
  return h("span", { class: `badge status-${status}` }, status);
}

export function progressBar(task) {
  const value = task.task_status === "succeed" ? 100 : Number(task.progress || 0);
  return h("span", { class: "progress" },
    h("progress", { max: 100, value, "aria-label": `Progress of task ${task.task_id}` }),
    h("span", { class: "progress-text" }, `${value}%`));
}

// A table that turns into labelled cards on narrow screens (see style.css).
export function table(caption, columns, rows, rowAttrs = () => ({})) {
  return h("table", { class: "data" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.label)))),
    h("tbody", {}, rows.length
      ? rows.map((row) => h("tr", rowAttrs(row),
          columns.map((c) => h("td", { "data-label": c.label }, c.cell(row)))))
      : h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, "Nothing here yet."))));
}

export function errorBox(error) {
  const code = error.code ? ` (code ${error.code})` : "";
  return h("div", { class: "error", role: "alert" },
    h("strong", {}, `Error${code}: `), h("span", { class: "error-message" }, error.message));
}
