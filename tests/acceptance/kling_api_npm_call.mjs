// One default call of the npm `kling-api` client (KlingAPI), run by
// tests/acceptance/test_npm_kling_client.py from the folder the package was installed in.
//
// argv[2] names the call; each passes only the arguments the client requires, so the
// client fills in its own defaults (model_name and the rest). A create is then polled with
// the client's own waitFor*Result and the family's own query method, as its README shows.
// Prints one JSON line: {"ok": true, "created": ..., "final": ...} or
// {"ok": false, "error": {"name", "message", "code", "httpStatus"}}.
import { KlingAPI } from 'kling-api';

const env = process.env;
const api = new KlingAPI({
  accessKey: env.KLING_ACCESS_KEY,
  secretKey: env.KLING_SECRET_KEY,
  baseUrl: env.KLING_BASE_URL,
});
// The client's own poller; only the interval is shortened (its default is 3 s) and the
// terminal spinner turned off.
const POLL = { interval: 200, timeout: 120000, showSpinner: false };
const image = env.KLING_TEST_IMAGE; // a local PNG path: the client sends it as base64
const sound = env.KLING_TEST_SOUND; // a local MP3 path

const video = (query) => async (created) =>
  api.waitForVideoResult(created.data.task_id, query.bind(api), POLL);
const picture = (query) => async (created) =>
  api.waitForImageResult(created.data.task_id, query.bind(api), POLL);

const CALLS = {
  healthCheck: [() => api.healthCheck(), null],
  getAccountInfo: [() => api.getAccountInfo(Date.now() - 3600000, Date.now()), null],
  textToVideo: [() => api.textToVideo({ prompt: 'a fox in the snow' }),
    video(api.queryTextToVideoTask)],
  imageToVideo: [() => api.imageToVideo({ image }), video(api.queryImageToVideoTask)],
  generateImage: [() => api.generateImage({ prompt: 'a lighthouse at dusk' }),
    picture(api.queryImageGenTask)],
  expandImage: [() => api.expandImage({
    image, up_expansion_ratio: 0.2, down_expansion_ratio: 0.2,
    left_expansion_ratio: 0.1, right_expansion_ratio: 0.1,
  }), picture(api.queryImageExpandTask)],
  omniImage: [() => api.omniImage({ prompt: 'a red kite over the sea' }),
    picture(api.queryOmniImageTask)],
  multiImageToImage: [() => api.multiImageToImage({ subject_image_list: [{ subject_image: image }] }),
    picture(api.queryMultiImageToImageTask)],
  createAvatar: [() => api.createAvatar({ image, sound_file: sound }),
    video(api.queryAvatarTask)],
  extendVideo: [() => api.extendVideo({ video_id: '866889456698785798' }),
    video(api.queryExtendVideoTask)],
  multiImageToVideo: [() => api.multiImageToVideo({ image_list: [{ image }], prompt: 'it moves' }),
    video(api.queryMultiImageToVideoTask)],
  omniVideo: [() => api.omniVideo({ prompt: 'a paper boat on a river' }),
    video(api.queryOmniVideoTask)],
};

const [create, wait] = CALLS[process.argv[2]];
try {
  const created = await create();
  const final = wait ? await wait(created) : null;
  console.log(JSON.stringify({ ok: true, created, final }));
} catch (error) {
  const { name, message, code, httpStatus } = error;
  console.log(JSON.stringify({ ok: false, error: { name, message, code, httpStatus } }));
}
