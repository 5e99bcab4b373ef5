// Task families as declarations: the create form, the task list and the task page are built
// from these. Adding a family is one more entry here, once the server serves it; the field
// rules mirror the Kling contract (docs: kling-api.md, core/models.py, core/family_requests.py).
// The server checks everything again: the form's limits only save a round trip.

const PROMPT_MAX = 2500;
// Kling's input image rules: jpg/jpeg/png, at most 10 MB, sides >= 300 px, aspect 1:2.5..2.5:1.
// The form checks the size before encoding (a larger body would only meet the body limit); the
// server checks the rest and its message is shown as it comes.
export const IMAGE_MAX_BYTES = 10 * 1024 * 1024;
const IMAGE_HELP = "PNG or JPEG, at most 10 MB, sides at least 300 px, aspect between 1:2.5 " +
  "and 2.5:1. Upload a file (sent as base64) or give a URL the server can fetch.";

// Field kinds: text, textarea, select, number, url, image (a file or a URL). `options` may be a
// function of the signed-in account (`me`) and the form's current values, for model-dependent
// choices; `asNumber` sends a number instead of the typed text.
const prompt = (required, help) => ({
  name: "prompt", label: "Prompt", kind: "textarea", required, maxLength: PROMPT_MAX,
  help: `${help} At most ${PROMPT_MAX} characters.`,
});
const negativePrompt = {
  name: "negative_prompt", label: "Negative prompt", kind: "textarea", maxLength: PROMPT_MAX,
  help: "What to keep out of it (optional).",
};
const model = {
  name: "model_name", label: "Model", kind: "select",
  options: (me) => me.models.map((m) => m.name), initial: (me) => me.default_model,
};
const mode = {
  name: "mode", label: "Mode", kind: "select", options: () => ["std", "pro"],
  initial: () => "std", help: "std is faster; pro spends more effort.",
};
const duration = {
  name: "duration", label: "Duration (seconds)", kind: "select",
  options: (me, values) => durationsOf(me, values.model_name), initial: () => "5",
  dependsOn: "model_name",
};
const fidelity = (name, label, help) => ({
  name, label, kind: "number", min: 0, max: 1, step: 0.05, placeholder: "0.5", help,
  asNumber: true,
});
const cfgScale = fidelity("cfg_scale", "CFG scale", "Prompt adherence, 0 to 1 (empty: 0.5).");
const callbackUrl = {
  name: "callback_url", label: "Callback URL", kind: "url", maxLength: 2048,
  help: "Receives the task object on every status change (optional).",
};
const externalId = {
  name: "external_task_id", label: "External task id", kind: "text", maxLength: 128,
  help: "Your own id for this task, unique in your account (optional).",
};

export const FAMILIES = {
  text2video: {
    label: "Text to video",
    path: "videos/text2video",
    result: "videos",
    fields: [
      prompt(true, "Required: what the video shows."), negativePrompt, model, mode,
      { name: "aspect_ratio", label: "Aspect ratio", kind: "select",
        options: () => ["16:9", "9:16", "1:1"], initial: () => "16:9" },
      duration, cfgScale, callbackUrl, externalId,
    ],
  },
  image2video: {
    label: "Image to video",
    path: "videos/image2video",
    result: "videos",
    note: "Give a first frame, a last frame, or both (a last frame needs a model that " +
      "conditions on one). The video follows the image's aspect ratio.",
    fields: [
      { name: "image", label: "First frame", kind: "image", help: IMAGE_HELP },
      { name: "image_tail", label: "Last frame", kind: "image",
        help: "Optional: the frame the video ends on, same rules." },
      prompt(false, "Optional: what happens in the video."), negativePrompt, model, mode,
      duration, cfgScale, callbackUrl, externalId,
    ],
  },
  images: {
    label: "Images",
    path: "images/generations",
    result: "images",
    fields: [
      prompt(true, "Required: what the images show."), negativePrompt, model,
      { name: "n", label: "Number of images", kind: "number", min: 1, max: 9, step: 1,
        placeholder: "1", help: "1 to 9 (empty: 1).", asNumber: true, integer: true },
      { name: "aspect_ratio", label: "Aspect ratio", kind: "select",
        options: () => ["16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9"],
        initial: () => "16:9" },
      { name: "resolution", label: "Resolution", kind: "select", options: () => ["1k", "2k"],
        initial: () => "1k", help: "1k is about 1 megapixel, 2k about 4." },
      { name: "image", label: "Reference image", kind: "image",
        help: `Optional: the images start from this one. ${IMAGE_HELP}` },
      { name: "image_reference", label: "Reference kind", kind: "select",
        options: () => ["", "subject", "face"], optionLabels: { "": "(none)" },
        help: "What to keep from the reference, for models that support it (optional)." },
      fidelity("image_fidelity", "Image fidelity",
        "How closely to follow the reference image, 0 to 1 (empty: 0.5)."),
      callbackUrl, externalId,
    ],
  },
};

export function durationsOf(me, modelName) {
  const found = me.models.find((m) => m.name === modelName);
  return found ? found.durations : ["5", "10"];
}

// A task's `family` is its route path ("videos/text2video"); older rows said "text2video".
export function familyOf(kind) {
  return FAMILIES[kind] || Object.values(FAMILIES).find((f) => f.path === kind) || null;
}
