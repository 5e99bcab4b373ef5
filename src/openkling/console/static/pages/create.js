import { api } from "../api.js";
import { h, errorBox } from "../dom.js";
import { FAMILIES, IMAGE_MAX_BYTES } from "../families.js";

export const title = () => "Create a task";

export async function render(ctx) {
  const names = Object.keys(FAMILIES);
  const chosen = names.includes(ctx.params.get("family")) ? ctx.params.get("family") : names[0];
  const family = FAMILIES[chosen];
  return h("section", {},
    h("h1", {}, "Create a task"),
    h("div", { class: "filters" },
      h("label", { for: "family" }, "Family"),
      h("select", { id: "family", onchange: (e) => ctx.go(`#/create?family=${e.target.value}`) },
        names.map((n) => h("option", { value: n, selected: n === chosen }, FAMILIES[n].label)))),
    h("p", { class: "help" }, `POST /v1/${family.path}. `, family.note || ""),
    buildForm(ctx, family));
}

// A refusal of the form's own (before anything is sent), shown like the API's.
class FieldError extends Error {}

function buildForm(ctx, family) {
  const inputs = family.fields.map((field) => buildField(field));
  const byName = Object.fromEntries(inputs.map((input) => [input.field.name, input]));
  const values = () => Object.fromEntries(inputs.filter((i) => i.field.kind === "select")
    .map((i) => [i.field.name, i.control.value]));
  const status = h("div", { class: "form-status" });
  const submit = h("button", { type: "submit" }, "Create");
  const form = h("form", { class: "card", id: "create-form", async onsubmit(event) {
    event.preventDefault();
    if (!form.reportValidity()) return;
    submit.disabled = true;
    status.replaceChildren(h("p", {}, "Submitting…"));
    try {
      const body = {};
      for (const input of inputs) {
        const value = await input.read();
        if (value !== undefined) body[input.field.name] = value;
      }
      const created = await api.create(family.path, body);
      ctx.notify(`Task ${created.task_id} created.`);
      ctx.go(`#/tasks/${created.task_id}`);
    } catch (error) {
      // The API's own message, verbatim: it names the field and the rule.
      status.replaceChildren(errorBox(error));
      submit.disabled = false;
    }
  } });
  for (const input of inputs) form.append(input.row);

  // Fill selects from their declarations; re-fill dependants when what they depend on changes.
  const fill = ({ field, control }) => {
    const previous = control.value;
    const options = field.options(ctx.me, values());
    control.replaceChildren(...options.map((o) =>
      h("option", { value: o }, field.optionLabels?.[o] ?? o)));
    const initial = field.initial ? field.initial(ctx.me, values()) : options[0];
    control.value = options.includes(previous) ? previous
      : options.includes(initial) ? initial : options[0];
  };
  for (const input of inputs.filter((i) => i.field.kind === "select")) fill(input);
  for (const input of inputs.filter((i) => i.field.dependsOn)) {
    byName[input.field.dependsOn].control.addEventListener("change", () => fill(input));
    fill(input);
  }
  form.append(h("div", { class: "actions" }, submit), status);
  return form;
}

// One field: its row in the form, its main control, and `read()`, the value to send (undefined
// for an empty field: it is left out of the body, so the API applies its default).
function buildField(field) {
  if (field.kind === "image") return imageField(field);
  const id = `field-${field.name}`;
  const helpId = field.help ? `${id}-help` : undefined;
  const common = { id, name: field.name, required: field.required,
    "aria-describedby": helpId };
  let control;
  if (field.kind === "textarea") {
    control = h("textarea", { ...common, rows: 3, maxLength: field.maxLength });
  } else if (field.kind === "select") {
    control = h("select", common);
  } else {
    control = h("input", { ...common, type: field.kind, maxLength: field.maxLength,
      min: field.min, max: field.max, step: field.step, placeholder: field.placeholder,
      inputMode: field.kind !== "number" ? undefined : field.integer ? "numeric" : "decimal" });
  }
  const row = h("div", { class: "field" },
    h("label", { for: id }, field.label),
    control,
    field.help ? h("p", { id: helpId, class: "help" }, field.help) : "");
  if (field.maxLength && field.kind === "textarea") {
    const counter = h("p", { class: "help counter", "aria-live": "off" });
    const update = () => { counter.textContent = `${control.value.length} / ${field.maxLength}`; };
    control.addEventListener("input", update);
    update();
    row.append(counter);
  }
  const read = async () => {
    const raw = control.value.trim();
    if (raw === "") return undefined;
    return field.asNumber ? Number(raw) : control.value;
  };
  return { field, control, row, read };
}

// An input image: a file (sent as raw base64, no `data:` prefix, as Kling wants) or a URL.
function imageField(field) {
  const id = `field-${field.name}`;
  const helpId = `${id}-help`;
  const file = h("input", { id: `${id}-file`, name: `${field.name}_file`, type: "file",
    accept: "image/png,image/jpeg", "aria-describedby": helpId });
  const url = h("input", { id: `${id}-url`, name: `${field.name}_url`, type: "url",
    maxLength: 2048, placeholder: "https://…", "aria-describedby": helpId });
  const preview = h("img", { class: "preview", alt: "", hidden: true });
  const clear = h("button", { type: "button", class: "link", hidden: true,
    "aria-label": `Clear the chosen ${field.label.toLowerCase()}`,
    onclick() { file.value = ""; show(); file.focus(); } }, "Remove file");
  let shown = null;
  function show() {
    if (shown) URL.revokeObjectURL(shown);
    shown = null;
    const chosen = file.files[0];
    preview.hidden = !chosen;
    clear.hidden = !chosen;
    url.disabled = Boolean(chosen);
    if (chosen) {
      shown = URL.createObjectURL(chosen);
      preview.src = shown;
      preview.alt = `Chosen ${field.label.toLowerCase()}: ${chosen.name}`;
    } else {
      preview.removeAttribute("src");
    }
  }
  file.addEventListener("change", show);
  const row = h("fieldset", { class: "field image-field", id },
    h("legend", {}, field.label),
    h("label", { for: file.id }, `${field.label} file`), file,
    h("label", { for: url.id }, `or ${field.label.toLowerCase()} URL`), url,
    h("div", { class: "preview-row" }, preview, clear),
    h("p", { id: helpId, class: "help" }, field.help));
  const read = async () => {
    const chosen = file.files[0];
    if (chosen) {
      if (chosen.size > IMAGE_MAX_BYTES) {
        throw new FieldError(`${field.name}: the file is ${(chosen.size / 1048576).toFixed(1)}` +
          " MB; Kling accepts at most 10 MB");
      }
      return base64Of(chosen);
    }
    return url.value.trim() || undefined;
  };
  return { field, control: file, row, read };
}

function base64Of(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ""));
    reader.onerror = () => reject(new FieldError(`Cannot read ${file.name}: ${reader.error}`));
    reader.readAsDataURL(file);
  });
}
