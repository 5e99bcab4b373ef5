// Task families as declarations: the create form, the task list and the task page are built
// from these. Adding a family (image2video, images, ...) is one more entry here, once the server
// serves it; the field rules mirror the Kling contract (docs: kling-api.md, core/models.py).

const PROMPT_MAX = 2500;

// Field kinds: text, textarea, select, number, url, checkbox. `options` may be a function of
// the signed-in account (`me`) and the form's current values, for model-dependent choices.
export const FAMILIES = {
  text2video: {
    label: "Text to video",
    path: "videos/text2video",
    result: "videos",
    fields: [
      { name: "prompt", label: "Prompt", kind: "textarea", required: true, maxLength: PROMPT_MAX,
        help: `Required: what the video shows, at most ${PROMPT_MAX} characters.` },
      { name: "negative_prompt", label: "Negative prompt", kind: "textarea",
        maxLength: PROMPT_MAX, help: "What to keep out of it (optional)." },
      { name: "model_name", label: "Model", kind: "select",
        options: (me) => me.models.map((m) => m.name), initial: (me) => me.default_model },
      { name: "mode", label: "Mode", kind: "select", options: () => ["std", "pro"],
        initial: () => "std", help: "std is faster; pro spends more effort." },
      { name: "aspect_ratio", label: "Aspect ratio", kind: "select",
        options: () => ["16:9", "9:16", "1:1"], initial: () => "16:9" },
      { name: "duration", label: "Duration (seconds)", kind: "select",
        options: (me, values) => durationsOf(me, values.model_name), initial: () => "5",
        dependsOn: "model_name" },
      { name: "cfg_scale", label: "CFG scale", kind: "number", min: 0, max: 1, step: 0.05,
        placeholder: "0.5", help: "Prompt adherence, 0 to 1 (empty: 0.5).", asNumber: true },
      { name: "callback_url", label: "Callback URL", kind: "url", maxLength: 2048,
        help: "Receives the task object on every status change (optional)." },
      { name: "external_task_id", label: "External task id", kind: "text", maxLength: 128,
        help: "Your own id for this task, unique in your account (optional)." },
    ],
  },
};

export function durationsOf(me, modelName) {
  const model = me.models.find((m) => m.name === modelName);
  return model ? model.durations : ["5", "10"];
}

// A task's `family` is its route path ("videos/text2video"); older rows said "text2video".
export function familyOf(kind) {
  return FAMILIES[kind] || Object.values(FAMILIES).find((f) => f.path === kind) || null;
}
