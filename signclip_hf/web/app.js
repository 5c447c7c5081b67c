// The SignCLIP web page: a dropped .pose file -> features (pose.js) -> the exported pose graph with
// onnxruntime-web (wasm, in this browser) -> scores against the vocabulary's precomputed text embeddings with the
// export's score rule -> ranked glosses and the skeleton. Nothing leaves the browser.
//
// `window.signclip` is the page's API (used by the tests and the benchmark):
//   ready                          a Promise, resolved once the model is loaded
//   features(pose, settings?)      { frames, dim, values: number[] } (what the pose graph gets for one clip)
//   embed(pose, settings?)         { embedding: number[], frames, ms (the pose graph), featuresMs }
//   rank(pose, name?, candidates?) { ranking: [{ gloss, prompt, score, probability }], embedding, frames, ms }
//                                  (`candidates`: your own glosses, embedded by the text graph, instead of the
//                                  vocabulary; needs a site with free text)
//   tokenize(text)                 token ids, as the Python tokenizer gives them (needs free text)
//   embedTexts(prompts)            [number[]] text embeddings (needs free text)
// `pose` is a Uint8Array, an ArrayBuffer or a base64 string of a .pose file.

import * as ort from "./ort/ort.wasm.min.mjs";
import { PoseError, extractorSettings, keptPoints, poseFeatures } from "./pose.js";
import { animateSkeleton } from "./skeleton.js";
import { WordPieceTokenizer, formatPrompt } from "./text.js";

const $ = (selector) => document.querySelector(selector);
const state = { site: null, manifest: null, vocabulary: null, session: null, settings: null, stop: null };

function toBytes(pose) {
  if (pose instanceof Uint8Array) return pose;
  if (pose instanceof ArrayBuffer) return new Uint8Array(pose);
  if (typeof pose === "string") {
    if (typeof Uint8Array.fromBase64 === "function") return Uint8Array.fromBase64(pose);
    const text = atob(pose);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes;
  }
  throw new TypeError("expected the bytes of a .pose file (Uint8Array, ArrayBuffer or base64 string)");
}

async function fetchJson(url, what) {
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(`could not fetch ${what} (${url}): ${error.message}`);
  }
  if (!response.ok) throw new Error(`could not fetch ${what} (${url}): HTTP ${response.status}`);
  return response.json();
}

async function load() {
  const site = await fetchJson(new URL("site.json", location.href), "the site settings");
  const base = new URL(site.model, location.href);
  const manifest = await fetchJson(new URL("signclip_onnx.json", base), "the export manifest");
  if (manifest.format !== "signclip-onnx") throw new Error("the model folder is not a SignCLIP ONNX export");
  const graphs = manifest.graphs[site.precision];
  if (!graphs) throw new Error(`the export has no ${site.precision} graphs`);
  const vocabulary = await fetchJson(new URL(manifest.vocabulary || "vocabulary.json", base), "the vocabulary");
  ort.env.wasm.wasmPaths = new URL("ort/", location.href).href;
  // threads need cross-origin isolation; on 2 cores one thread is faster (benchmarks/web_bench.py: 167 vs 238 ms)
  const cores = navigator.hardwareConcurrency || 1;
  ort.env.wasm.numThreads = site.threads ?? (self.crossOriginIsolated && cores >= 4 ? Math.min(4, Math.floor(cores / 2)) : 1);
  const session = await ort.InferenceSession.create(new URL(graphs.pose, base).href, {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
  });
  Object.assign(state, { site, manifest, vocabulary, session, settings: extractorSettings(manifest.feature_extractor) });
  state.textEmbeds = vocabulary.text_embeds.map((row) => Float64Array.from(row));
  return {
    glosses: vocabulary.entries.length,
    precision: site.precision,
    ort: ort.env.versions?.web,
    threads: ort.env.wasm.numThreads,
    loadedMs: performance.now(), // since the navigation started
  };
}

let textLoading = null;

/** The tokenizer and the text graph, loaded on first use (free-text queries). */
function loadText() {
  if (!state.site.free_text) {
    return Promise.reject(new Error("this page ranks its vocabulary only (written with --vocabulary-only)"));
  }
  textLoading ??= (async () => {
    const base = new URL(state.site.model, location.href);
    const json = await fetchJson(new URL("tokenizer.json", base), "the tokenizer");
    const tokenizer = new WordPieceTokenizer(json, state.manifest.text.max_length);
    const graph = new URL(state.manifest.graphs[state.site.precision].text, base).href;
    const session = await ort.InferenceSession.create(graph, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
    return { tokenizer, session };
  })();
  return textLoading;
}

async function embedTexts(prompts) {
  const { tokenizer, session } = await loadText();
  const embeds = [];
  for (const prompt of prompts) {
    const ids = tokenizer.encode(prompt);
    const inputIds = new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, ids.length]);
    const mask = new ort.Tensor("int64", new BigInt64Array(ids.length).fill(1n), [1, ids.length]);
    const outputs = await session.run({ input_ids: inputIds, attention_mask: mask });
    embeds.push(Array.from(outputs.text_embeds.data));
  }
  return embeds;
}

/** "house, tree\nsun" -> ["house", "tree", "sun"] (trimmed, no empty or repeated entries). */
function parseCandidates(text) {
  return [...new Set(text.split(/[,\n]/).map((c) => c.trim()).filter(Boolean))];
}

async function candidateEntries(candidates) {
  const spoken = state.vocabulary.spoken_language ?? "en";
  const sign = state.vocabulary.sign_language ?? "ase";
  const entries = candidates.map((gloss) => ({ gloss, prompt: formatPrompt(state.manifest.text.prompt_format, gloss, spoken, sign) }));
  const embeds = await embedTexts(entries.map((entry) => entry.prompt));
  return { entries, embeds: embeds.map((row) => Float64Array.from(row)) };
}

function features(pose, settings = {}, name = "<.pose data>") {
  return poseFeatures(toBytes(pose), state.site.layouts, { ...state.settings, ...settings }, name);
}

async function embedFeatures(clip) {
  const started = performance.now();
  const values = new ort.Tensor("float32", clip.values, [1, clip.frames, clip.dim]);
  const mask = new ort.Tensor("int64", new BigInt64Array(clip.frames).fill(1n), [1, clip.frames]);
  const outputs = await state.session.run({ pose_values: values, pose_attention_mask: mask });
  const embedding = Array.from(outputs.pose_embeds.data);
  return { embedding, frames: clip.frames, ms: performance.now() - started };
}

/** The manifest's score rule: logit_scale × dot(pose embedding, text embedding); softmax over the vocabulary. */
function score(embedding, entries = state.vocabulary.entries, textEmbeds = state.textEmbeds) {
  const scale = state.manifest.score.logit_scale;
  const scores = textEmbeds.map((row) => scale * row.reduce((sum, value, i) => sum + value * embedding[i], 0));
  const top = Math.max(...scores);
  const exps = scores.map((s) => Math.exp(s - top));
  const total = exps.reduce((a, b) => a + b, 0);
  return entries
    .map((entry, i) => ({ gloss: entry.gloss, prompt: entry.prompt, score: scores[i], probability: exps[i] / total }))
    .sort((a, b) => b.score - a.score);
}

async function rank(pose, name, candidates) {
  const started = performance.now();
  const clip = features(pose, {}, name);
  const embedded = await embedFeatures(clip);
  const own = candidates?.length ? await candidateEntries(candidates) : null;
  const ranking = own ? score(embedded.embedding, own.entries, own.embeds) : score(embedded.embedding);
  return { ...embedded, ranking, clip, ms: performance.now() - started };
}

const ready = load();

window.signclip = {
  ready,
  features: async (pose, settings) => {
    await ready;
    const clip = features(pose, settings);
    return { frames: clip.frames, dim: clip.dim, sourceFrames: clip.sourceFrames, values: Array.from(clip.values) };
  },
  embed: async (pose, settings) => {
    await ready;
    const bytes = toBytes(pose);
    const started = performance.now();
    const clip = features(bytes, settings);
    const featuresMs = performance.now() - started;
    return { ...(await embedFeatures(clip)), featuresMs };
  },
  rank: async (pose, name, candidates) => {
    await ready;
    const { ranking, embedding, frames, ms } = await rank(pose, name, candidates);
    return { ranking, embedding, frames, ms };
  },
  tokenize: async (text) => {
    await ready;
    return (await loadText()).tokenizer.encode(text);
  },
  embedTexts: async (prompts) => {
    await ready;
    return embedTexts(prompts);
  },
};

// --- the page ---------------------------------------------------------------------------------------------

function showMessage(text, kind = "info") {
  const message = $("#message");
  message.textContent = text;
  message.className = kind;
}

function showRanking(result, fileName) {
  const shown = Math.min(result.ranking.length, state.site.top_k ?? 10);
  const list = $("#ranked");
  list.replaceChildren(
    ...result.ranking.slice(0, shown).map((entry) => {
      const item = document.createElement("li");
      const gloss = document.createElement("span");
      gloss.className = "gloss";
      gloss.textContent = entry.gloss;
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = `${Math.round(100 * entry.probability)}%`;
      const numbers = document.createElement("span");
      numbers.className = "numbers";
      numbers.textContent = `${Math.round(100 * entry.probability)}% · score ${entry.score.toFixed(3)}`;
      item.append(gloss, bar, numbers);
      item.dataset.score = String(entry.score);
      return item;
    }),
  );
  const { frames, sourceFrames } = result.clip;
  const own = parseCandidates($("#candidates").value).length ? "your " : "";
  const fitted = sourceFrames > frames ? ` (${sourceFrames} frames fitted to ${frames}, ${state.settings.long_clip_policy})` : "";
  showMessage(
    `${fileName}: ${frames} frames${fitted}; ${own}${result.ranking.length} glosses ranked in ${Math.round(result.ms)} ms, ` +
      "in this browser.",
    "done",
  );
}

async function recognize(file) {
  state.file = file;
  if (state.stop) state.stop();
  $("#ranked").replaceChildren();
  const limit = state.site?.max_file_bytes ?? 256 * 1024 * 1024;
  if (file.size > limit) {
    showMessage(`${file.name}: the file is ${file.size.toLocaleString("en-US")} bytes; this page reads at most ${limit.toLocaleString("en-US")}`, "error");
    return;
  }
  showMessage(`${file.name}: reading…`);
  try {
    await ready;
    const candidates = parseCandidates($("#candidates").value);
    if (candidates.length) showMessage(`${file.name}: embedding your ${candidates.length} glosses…`);
    const result = await rank(new Uint8Array(await file.arrayBuffer()), file.name, candidates);
    const layout = state.site.layouts[state.settings.keypoint_layout];
    const hidden = Uint8Array.from(keptPoints(layout), (kept) => 1 - kept);
    state.stop = animateSkeleton($("#skeleton"), result.clip.keypoints, layout, hidden);
    showRanking(result, file.name);
  } catch (error) {
    const text = error instanceof PoseError ? error.message : `${file.name}: ${error.message}`;
    showMessage(text, "error");
  }
}

function setUp() {
  const input = $("#pose-file");
  input.addEventListener("change", () => input.files.length && recognize(input.files[0]));
  const zone = $("#drop");
  for (const type of ["dragenter", "dragover"]) {
    document.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
  }
  document.addEventListener("dragleave", () => zone.classList.remove("over"));
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files.length) recognize(event.dataTransfer.files[0]);
  });
  $("#rerank").addEventListener("click", () => state.file && recognize(state.file));
  showMessage("Loading the model…");
  ready.then(
    (info) => {
      document.body.dataset.ready = "true";
      $("#own").hidden = !state.site.free_text;
      $("#model").textContent = `${state.manifest.source_model ?? "SignCLIP"} · ${info.glosses} glosses · ${info.precision} · onnxruntime-web ${ort.env.versions?.web ?? ""}`;
      showMessage("Ready: drop a .pose file (MediaPipe Holistic) anywhere on the page, or choose one.");
    },
    (error) => {
      document.body.dataset.ready = "failed";
      showMessage(`Could not load the model: ${error.message}`, "error");
    },
  );
}

setUp();
