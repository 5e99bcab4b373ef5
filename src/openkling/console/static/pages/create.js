import { api } from "../api.js";
import { h, errorBox } from "../dom.js";
import { FAMILIES } from "../families.js";

export const title = () => "Create a task";

export async function render(ctx) {
  const names = Object.keys(FAMILIES);
  const chosen = names.includes(ctx.params.get("family")) ? ctx.params.get("family") : names[0];
  const family = FAMILIES[chosen];
  const holder = h("div");
  holder.append(buildForm(ctx, family));
  return h("section", {},
    h("h1", {}, "Create a task"),
    names.length > 1
      ? h("div", { class: "filters" },
          h("label", { for: "family" }, "Family"),
          h("select", { id: "family", onchange: (e) => ctx.go(`#/create?family=${e.target.value}`) },
            names.map((n) => h("option", { value: n, selected: n === chosen },
              FAMILIES[n].label))))
      : h("p", { class: "help" }, `Family: ${family.label} (POST /v1/${family.path}).`),
    holder);
}

function buildForm(ctx, family) {
  const controls = {};
  const values = () => Object.fromEntries(Object.entries(controls).map(([k, c]) => [k, c.value]));
  const status = h("div", { class: "form-status" });
  const submit = h("button", { type: "submit" }, "Create");
  const form = h("form", { class: "card", id: "create-form", async onsubmit(event) {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const body = {};
    for (const field of family.fields) {
      const raw = controls[field.name].value.trim();
      if (raw === "") continue;
      body[field.name] = field.asNumber ? Number(raw) : controls[field.name].value;
    }
    submit.disabled = true;
    status.replaceChildren(h("p", {}, "Submitting…"));
    try {
      const created = await api.create(family.path, body);
      ctx.notify(`Task ${created.task_id} created.`);
      ctx.go(`#/tasks/${created.task_id}`);
    } catch (error) {
      // The API's own message, verbatim: it names the field and the rule.
      status.replaceChildren(errorBox(error));
      submit.disabled = false;
    }
  } });

  for (const field of family.fields) {
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
        inputMode: field.kind === "number" ? "decimal" : undefined });
    }
    controls[field.name] = control;
    const row = h("div", { class: "field" },
      h("label", { for: id }, field.label),
      control,
      field.help ? h("p", { id: helpId, class: "help" }, field.help) : "");
    if (field.maxLength && field.kind === "textarea") {
      const counter = h("p", { class: "help counter", "aria-live": "off" });
      const update = () => {
        counter.textContent = `${control.value.length} / ${field.maxLength}`;
      };
      control.addEventListener("input", update);
      update();
      row.append(counter);
    }
    form.append(row);
  }

  // Fill selects from their declarations; re-fill dependants when what they depend on changes.
  const fill = (field) => {
    const control = controls[field.name];
    const previous = control.value;
    const options = field.options(ctx.me, values());
    control.replaceChildren(...options.map((o) => h("option", { value: o }, o)));
    const initial = field.initial ? field.initial(ctx.me, values()) : options[0];
    control.value = options.includes(previous) ? previous
      : options.includes(initial) ? initial : options[0];
  };
  for (const field of family.fields.filter((f) => f.kind === "select")) {
    fill(field);
  }
  for (const field of family.fields.filter((f) => f.dependsOn)) {
    controls[field.dependsOn].addEventListener("change", () => fill(field));
    fill(field);
  }
  form.append(h("div", { class: "actions" }, submit), status);
  return form;
}
