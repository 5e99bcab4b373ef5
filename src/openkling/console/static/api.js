// The one place the console talks to the server: the same Kling API the SDK uses (Bearer key,
// {code, message, request_id, data} envelope), plus the console's and admin's read routes.

const KEY = "openkling.apiKey";

export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

// The key lives in sessionStorage: gone when the tab or browser closes, never in a cookie.
export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(value) {
    if (value) sessionStorage.setItem(KEY, value); else sessionStorage.removeItem(KEY);
  },
};

let onUnauthorized = () => {};
export function whenUnauthorized(handler) { onUnauthorized = handler; }

export async function call(method, path, body, key = session.key) {
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(0, 0, `The server cannot be reached (${err.message}).`, null);
  }
  let envelope = null;
  try { envelope = await response.json(); } catch { /* not JSON: reported below */ }
  if (!envelope || typeof envelope.code !== "number") {
    throw new ApiError(response.status, 0, `Unexpected answer (HTTP ${response.status}).`, null);
  }
  if (envelope.code !== 0) {
    const error = new ApiError(response.status, envelope.code, envelope.message,
                               envelope.request_id);
    if (response.status === 401 && key === session.key) onUnauthorized(error);
    throw error;
  }
  return envelope.data;
}

export const api = {
  me: (key) => call("GET", "/console/api/me", undefined, key),
  tasks: ({ page = 1, size = 20, status = "" } = {}) => {
    const query = new URLSearchParams({ pageNum: page, pageSize: size });
    if (status) query.set("status", status);
    return call("GET", `/console/api/tasks?${query}`);
  },
  task: (id) => call("GET", `/console/api/tasks/${encodeURIComponent(id)}`),
  // Kling routes, exactly as any Kling client calls them.
  create: (familyPath, body) => call("POST", `/v1/${familyPath}`, body),
  cancel: (familyPath, id) =>
    call("POST", `/v1/${familyPath}/${encodeURIComponent(id)}/cancel`),
  // Operator routes (admin keys only).
  accounts: () => call("GET", "/admin/v1/accounts"),
  setDisabled: (id, disabled) =>
    call("POST", `/admin/v1/accounts/${id}/${disabled ? "disable" : "enable"}`),
  keys: () => call("GET", "/admin/v1/keys"),
  createKey: (body) => call("POST", "/admin/v1/keys", body),
  revokeKey: (id) => call("POST", `/admin/v1/keys/${id}/revoke`),
  system: () => call("GET", "/admin/v1/system"),
  metrics: () => call("GET", "/admin/v1/metrics"),
  quotas: () => call("GET", "/admin/v1/quotas"),
  addQuota: (accountId, body) => call("POST", `/admin/v1/accounts/${accountId}/quotas`, body),
  // Readiness is public and not enveloped.
  readiness: async () => {
    const response = await fetch("/readyz", { cache: "no-store" });
    return { status: response.status, body: await response.text() };
  },
};
