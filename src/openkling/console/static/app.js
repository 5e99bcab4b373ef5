// The console shell: hash routes (#/tasks, #/tasks/<id>, #/create, #/admin, #/quotas, #/system,
// #/signin), the signed-in account, and the timers a page runs while it is shown.

import { api, session, whenUnauthorized } from "./api.js";
import { h, errorBox } from "./dom.js";
import * as signin from "./pages/signin.js";
import * as tasks from "./pages/tasks.js";
import * as task from "./pages/task.js";
import * as create from "./pages/create.js";
import * as admin from "./pages/admin.js";
import * as quotas from "./pages/quotas.js";
import * as system from "./pages/system.js";

const ROUTES = [
  { pattern: /^\/signin$/, page: signin, public: true },
  { pattern: /^\/tasks$/, page: tasks, nav: "tasks" },
  { pattern: /^\/tasks\/(\d+|video_[0-9a-f]+)$/, page: task, nav: "tasks" },
  { pattern: /^\/create$/, page: create, nav: "create" },
  { pattern: /^\/admin$/, page: admin, nav: "admin", admin: true },
  { pattern: /^\/quotas$/, page: quotas, nav: "quotas", admin: true },
  { pattern: /^\/system$/, page: system, nav: "system", admin: true },
];

const state = { me: null, generation: 0, cleanups: [], signInMessage: "" };
const main = document.getElementById("main");

whenUnauthorized((error) => {
  signOut(`Signed out: the server refused the key (${error.message}).`);
});

function signOut(message = "") {
  session.key = null;
  state.me = null;
  state.signInMessage = message;
  if (location.hash === "#/signin") route(); else location.hash = "#/signin";
}

async function signIn(key) {
  const me = await api.me(key);  // throws ApiError with the server's message
  session.key = key;
  state.me = me;
  state.signInMessage = "";
  location.hash = "#/tasks";
}

function notify(text) {
  const notice = document.getElementById("notice");
  notice.textContent = text;
  if (text) setTimeout(() => { if (notice.textContent === text) notice.textContent = ""; }, 6000);
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/tasks";
  const [path, query = ""] = raw.split("?");
  return { path, params: new URLSearchParams(query) };
}

function leave() {
  for (const cleanup of state.cleanups.splice(0)) cleanup();
}

async function route() {
  leave();
  const generation = ++state.generation;
  const { path, params } = parseHash();
  const match = ROUTES.map((r) => ({ r, m: r.pattern.exec(path) })).find((x) => x.m);
  if (!match) {
    show(h("section", {}, h("h1", {}, "Page not found"),
      h("p", {}, h("a", { href: "#/tasks" }, "Go to the task list"))), "Not found");
    return;
  }
  const { r, m } = match;
  if (!r.public && !session.key) { location.hash = "#/signin"; return; }
  if (session.key && !state.me) {
    try { state.me = await api.me(); } catch (error) {
      if (generation === state.generation && error.status !== 401) {
        show(errorBox(error), "Error");
      }
      return;
    }
  }
  if (r.public && state.me) { location.hash = "#/tasks"; return; }
  updateChrome(r.nav);
  if (r.admin && !state.me.is_admin) {
    show(h("section", {}, h("h1", {}, "Operators only"),
      h("p", {}, "This page needs an admin key (openkling keys create --admin).")), "Operators only");
    return;
  }
  const ctx = {
    me: state.me, params, match: m, signInMessage: state.signInMessage,
    current: () => generation === state.generation,
    every(ms, fn) {
      const id = setInterval(() => { if (ctx.current()) fn(); }, ms);
      state.cleanups.push(() => clearInterval(id));
    },
    onLeave(fn) { state.cleanups.push(fn); },
    go(hash) { location.hash = hash; },
    notify,
    signIn,
  };
  try {
    const node = await r.page.render(ctx);
    if (ctx.current()) show(node, r.page.title(ctx));
  } catch (error) {
    if (ctx.current() && error.status !== 401) show(errorBox(error), "Error");
  }
}

function show(node, title) {
  main.replaceChildren(node);
  document.title = `${title} · openkling console`;
  // Move focus to the new page's heading so keyboard and screen-reader users land on it.
  const heading = main.querySelector("h1");
  if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: true }); }
}

function updateChrome(active) {
  const signedIn = Boolean(state.me);
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("who").hidden = !signedIn;
  document.getElementById("who-name").textContent = signedIn
    ? `${state.me.account}${state.me.is_admin ? " (admin)" : ""}` : "";
  for (const item of document.querySelectorAll("[data-admin]")) {
    item.hidden = !(signedIn && state.me.is_admin);
  }
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// The skip link must not change the hash: the hash is the page address here.
document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});
document.getElementById("signout").addEventListener("click", () => {
  signOut("You are signed out.");
});
// A link to the page already shown starts it afresh (a new, empty form), as a reload would.
document.addEventListener("click", (event) => {
  const link = event.target.closest?.("a[href^='#/']");
  if (link && link.getAttribute("href") === location.hash && !event.defaultPrevented) route();
});
window.addEventListener("hashchange", route);
route();
