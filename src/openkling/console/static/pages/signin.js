import { h, errorBox } from "../dom.js";

export const title = () => "Sign in";

export async function render(ctx) {
  const input = h("input", {
    id: "api-key", name: "api_key", type: "password", required: true, autocomplete: "off",
    spellcheck: "false", "aria-describedby": "api-key-help",
  });
  const status = h("div", { class: "form-status" });
  const form = h("form", { class: "card narrow", novalidate: true, async onsubmit(event) {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      status.replaceChildren(errorBox({ message: "Enter an API key." }));
      input.focus();
      return;
    }
    button.disabled = true;
    status.replaceChildren(h("p", {}, "Checking the key…"));
    try {
      await ctx.signIn(key);
    } catch (error) {
      status.replaceChildren(errorBox(error));
      button.disabled = false;
      input.focus();
    }
  } },
    h("div", { class: "field" },
      h("label", { for: "api-key" }, "API key"),
      input,
      h("p", { id: "api-key-help", class: "help" },
        "The key printed by openkling keys create. It is kept in this browser tab only ",
        "(sessionStorage) and sent as a Bearer token.")),
  );
  const button = h("button", { type: "submit" }, "Sign in");
  form.append(button, status);
  return h("section", {},
    h("h1", {}, "Sign in"),
    ctx.signInMessage ? h("p", { class: "notice-inline", role: "alert" }, ctx.signInMessage) : "",
    form);
}
