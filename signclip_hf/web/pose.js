// SignCLIP pose preprocessing in JavaScript: `.pose` bytes -> the model's `pose_values`, exactly as the Python
// feature extractor (modeling/pose_io_signclip.py, keypoints_signclip.py, feature_extraction_signclip.py), which
// follows the released SignCLIP (Jiang et al., EMNLP 2024; fairseq examples/MMPT): the layout's MediaPipe Holistic
// keypoints selected by name, normalized by the shoulders over the frames where both are seen (pose-format
// `Pose.normalize`), legs hidden, missing points 0, long clips fitted by the saved policy.
// No DOM and no dependencies: runs in the page and in Node.

// Bounds on what a header may declare (as the Python reader): real MediaPipe Holistic files have 5 components,
// 576 points, 2,668 limbs.
const MAX_HEADER_COMPONENTS = 64;
const MAX_HEADER_POINTS = 16384;
const MAX_HEADER_LIMBS = 16384;
const MAX_HEADER_NAME_BYTES = 256;
const MAX_V0_0_EXPANSION = 8; // a v0.0 frame without a person takes 2 bytes but becomes a full frame of zeros

export const LONG_CLIP_POLICIES = ["subsample", "truncate"];
export const LEFT_HANDED_RULES = ["right_hand_still", "left_hand_busier"];

/** A pose input that cannot become features; `message` is "<source>: <problem>" as in Python. */
export class PoseError extends Error {
  constructor(kind, source, problem) {
    super(`${source}: ${problem}`);
    this.name = "PoseError";
    this.kind = kind; // "corrupt" | "empty" | "layout" | "nonfinite" | "degenerate"
    this.source = source;
    this.problem = problem;
  }
}

const thousands = (n) => Number(n).toLocaleString("en-US");
const utf8 = new TextDecoder("utf-8", { fatal: true });

class Reader {
  constructor(bytes, name) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.name = name;
    this.offset = 0;
  }
  fail(problem) {
    return new PoseError("corrupt", this.name, `not a readable .pose file (damaged header): ${problem}`);
  }
  need(size, what) {
    if (this.offset + size > this.bytes.length) {
      throw this.fail(`the file ends (${thousands(this.bytes.length)} bytes) inside the ${what}`);
    }
  }
  ushort(what) {
    this.need(2, what);
    const value = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return value;
  }
  float(what) {
    this.need(4, what);
    const value = this.view.getFloat32(this.offset, true);
    this.offset += 4;
    return value;
  }
  skip(size, what) {
    this.need(size, what);
    this.offset += size;
  }
  string(what) {
    const length = this.ushort(what);
    if (length > MAX_HEADER_NAME_BYTES) {
      throw this.fail(`a ${what} of ${thousands(length)} bytes (at most ${MAX_HEADER_NAME_BYTES})`);
    }
    const start = this.offset;
    this.skip(length, what);
    try {
      return utf8.decode(this.bytes.subarray(start, this.offset));
    } catch {
      throw this.fail(`a ${what} that is not UTF-8 text (byte ${start})`);
    }
  }
}

/** The checked header of a `.pose` file (pose-format `PoseHeader.read`, versions 0.0-0.2). */
export function readHeader(bytes, name) {
  const reader = new Reader(bytes, name);
  const rawVersion = reader.float("version");
  const version = rawVersion === 0 ? 0 : Math.round(rawVersion * 1000) / 1000;
  if (!(rawVersion === 0 || version === 0.1 || version === 0.2)) {
    throw reader.fail(`unknown pose-format version ${rawVersion} (known: 0.0, 0.1, 0.2)`);
  }
  const width = reader.ushort("dimensions");
  const height = reader.ushort("dimensions");
  reader.ushort("dimensions");
  const count = reader.ushort("component count");
  if (!(count > 0 && count <= MAX_HEADER_COMPONENTS)) {
    throw reader.fail(`${thousands(count)} components (expected 1 to ${MAX_HEADER_COMPONENTS})`);
  }
  const components = [];
  let points = 0;
  let limbs = 0;
  for (let c = 0; c < count; c++) {
    const component = reader.string("component name");
    if (components.some((seen) => seen.name === component)) {
      throw reader.fail(`component '${component}' appears twice`);
    }
    const format = reader.string(`${component} point format`);
    const numPoints = reader.ushort(`${component} counts`);
    const numLimbs = reader.ushort(`${component} counts`);
    const numColors = reader.ushort(`${component} counts`);
    points += numPoints;
    limbs += numLimbs;
    if (points > MAX_HEADER_POINTS || limbs > MAX_HEADER_LIMBS) {
      throw reader.fail(
        `${thousands(points)} points and ${thousands(limbs)} limbs declared by component '${component}' ` +
          `(at most ${thousands(MAX_HEADER_POINTS)} and ${thousands(MAX_HEADER_LIMBS)})`,
      );
    }
    const names = [];
    for (let p = 0; p < numPoints; p++) names.push(reader.string(`${component} point name`));
    const seen = new Set();
    for (const point of names) {
      if (seen.has(point)) throw reader.fail(`point '${point}' appears twice in component '${component}'`);
      seen.add(point);
    }
    reader.need(4 * numLimbs + 6 * numColors, `${component} limbs and colors`);
    const limbPairs = [];
    for (let l = 0; l < numLimbs; l++) {
      limbPairs.push([reader.view.getUint16(reader.offset, true), reader.view.getUint16(reader.offset + 2, true)]);
      reader.offset += 4;
    }
    reader.offset += 6 * numColors;
    components.push({ name: component, points: names, format, limbs: limbPairs });
  }
  if (points === 0) throw reader.fail("no keypoints declared");
  return {
    version,
    width,
    height,
    components,
    points,
    valuesPerPoint: Math.max(...components.map((c) => c.format.length)), // coordinates + confidence
    size: reader.offset,
  };
}

/** Where the layout's keypoints are among the header's points (flat indices, XYZ dims), or a PoseError. */
export function selectLayout(header, layout, layoutName, name) {
  const offsets = new Map();
  let offset = 0;
  for (const component of header.components) {
    offsets.set(component.name, { offset, lookup: new Map(component.points.map((p, i) => [p, i])), component });
    offset += component.points.length;
  }
  const indices = [];
  const problems = [];
  for (const [componentName, points] of layout.components) {
    const found = offsets.get(componentName);
    if (!found) {
      problems.push(`no ${componentName} component`);
      continue;
    }
    const missing = points.filter((p) => !found.lookup.has(p));
    if (missing.length) {
      const shown = missing.slice(0, 5).join(", ") + (missing.length > 5 ? ", ..." : "");
      problems.push(`${componentName} lacks ${missing.length} of the ${points.length} points needed (${shown})`);
      continue;
    }
    for (const p of points) indices.push(found.offset + found.lookup.get(p));
  }
  if (problems.length) {
    const has = header.components.map((c) => `${c.name} (${c.points.length} points, ${c.format})`).join(", ");
    throw new PoseError(
      "layout",
      name,
      `keypoint layout does not fit the '${layoutName}' layout: ${problems.join("; ")}. ` +
        `The file has: ${has}. Convert it to MediaPipe Holistic or choose a keypoint_layout it has.`,
    );
  }
  const format = offsets.get(layout.components[0][0]).component.format;
  const coords = [...format].filter((c) => c !== "C");
  if (!["X", "Y", "Z"].every((c) => coords.includes(c))) {
    throw new PoseError("layout", name, `points are '${format}'; SignCLIP needs 3D (X, Y, Z) coordinates`);
  }
  return { indices: Int32Array.from(indices), dims: ["X", "Y", "Z"].map((c) => coords.indexOf(c)) };
}

/** Frame byte offsets of the first person: { fps, frames, framePointer(f) -> (data, confidence) offsets }. */
function locateBody(bytes, header, name) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = header.valuesPerPoint - 1;
  const personBytes = header.points * header.valuesPerPoint * 4;
  if (header.version === 0) return locateV00Body(bytes, view, header, name);
  const countsSize = header.version === 0.2 ? 10 : 6;
  if (bytes.length < header.size + countsSize) {
    throw new PoseError("corrupt", name, "truncated: the file ends before the body's fps, frame and person counts");
  }
  let fps, frames, people;
  if (header.version === 0.2) {
    fps = view.getFloat32(header.size, true);
    frames = view.getUint32(header.size + 4, true);
    people = view.getUint16(header.size + 8, true);
  } else {
    fps = view.getUint16(header.size, true);
    frames = view.getUint16(header.size + 2, true);
    people = view.getUint16(header.size + 4, true);
  }
  if (people === 0) throw new PoseError("empty", name, "the file holds no person (people = 0)");
  if (!(Number.isFinite(fps) && fps >= 0)) throw new PoseError("corrupt", name, `damaged body: fps is ${fps}`);
  const body = bytes.length - header.size - countsSize;
  const frameBytes = people * personBytes;
  // v0.1 stores a 16-bit frame count; pose-format infers the true count from the body size
  const found = header.version === 0.2 ? frames : Math.floor(body / frameBytes);
  if (body !== found * frameBytes || (header.version === 0.1 && found % 65536 !== frames)) {
    throw new PoseError(
      "corrupt",
      name,
      `truncated or damaged: the header declares ${thousands(frames)} frames × ${people} people × ${header.points} ` +
        `points × ${header.valuesPerPoint} values (${thousands(frames * frameBytes)} body bytes) but the body has ` +
        `${thousands(body)} bytes`,
    );
  }
  const start = header.size + countsSize;
  const confidenceStart = start + found * people * header.points * dims * 4;
  return {
    fps,
    frames: found,
    dims,
    data: (frame, point, dim) => view.getFloat32(start + ((frame * people * header.points + point) * dims + dim) * 4, true),
    confidence: (frame, point) => view.getFloat32(confidenceStart + (frame * people * header.points + point) * 4, true),
  };
}

function locateV00Body(bytes, view, header, name) {
  if (new Set(header.components.map((c) => c.format)).size !== 1) {
    throw new PoseError("corrupt", name, "v0.0 file whose components have different point formats");
  }
  const values = header.points * header.valuesPerPoint;
  const reader = new Reader(bytes, name);
  reader.offset = header.size;
  const fps = reader.ushort("body's fps and frame count");
  const frames = reader.ushort("body's fps and frame count");
  const starts = [];
  for (let f = 0; f < frames; f++) {
    const people = reader.ushort("person count of a frame");
    starts.push(people ? reader.offset + 2 : null); // skip the person id
    reader.skip(people * (2 + 4 * values), "frame data");
  }
  if (reader.offset !== bytes.length) {
    throw new PoseError(
      "corrupt",
      name,
      `damaged: ${thousands(bytes.length - reader.offset)} bytes after the last of ${thousands(frames)} frames`,
    );
  }
  if (frames * values * 4 > MAX_V0_0_EXPANSION * bytes.length) {
    throw new PoseError(
      "corrupt",
      name,
      `${thousands(frames)} frames × ${thousands(header.points)} points would take ${thousands(frames * values * 4)} ` +
        `bytes in memory from a ${thousands(bytes.length)}-byte file (frames without a person; at most ` +
        `${MAX_V0_0_EXPANSION}× the file size)`,
    );
  }
  const vpp = header.valuesPerPoint;
  return {
    fps,
    frames,
    dims: vpp - 1,
    data: (frame, point, dim) =>
      starts[frame] === null ? 0 : view.getFloat32(starts[frame] + (point * vpp + dim) * 4, true),
    confidence: (frame, point) =>
      starts[frame] === null ? 0 : view.getFloat32(starts[frame] + (point * vpp + vpp - 1) * 4, true),
  };
}

/** `.pose` bytes -> the layout's raw keypoints of the first person:
 * { points: Float32Array (T, K, 3), confidence: Float32Array (T, K), frames, fps, header, selection }. */
export function readKeypoints(bytes, layout, layoutName = "holistic", name = "<.pose data>") {
  if (!(bytes instanceof Uint8Array)) bytes = new Uint8Array(bytes);
  if (bytes.length === 0) throw new PoseError("corrupt", name, "the file is empty (0 bytes)");
  const header = readHeader(bytes, name);
  const body = locateBody(bytes, header, name); // the body is checked before the layout, as in Python
  const selection = selectLayout(header, layout, layoutName, name);
  const frames = body.frames;
  if (frames === 0) throw new PoseError("empty", name, "the clip has zero frames");
  const K = selection.indices.length;
  const points = new Float32Array(frames * K * 3);
  const confidence = new Float32Array(frames * K);
  for (let f = 0; f < frames; f++) {
    for (let k = 0; k < K; k++) {
      const index = selection.indices[k];
      for (let d = 0; d < 3; d++) points[(f * K + k) * 3 + d] = body.data(f, index, selection.dims[d]);
      const c = body.confidence(f, index);
      if (!(c >= 0 && c <= 1)) {
        throw new PoseError(
          "corrupt",
          name,
          `confidence ${c} outside [0, 1] at frame ${f} (damaged file or another format)`,
        );
      }
      confidence[f * K + k] = c;
    }
  }
  return { points, confidence, frames, numPoints: K, fps: body.fps, header, selection };
}

/** Flat point index of (component, point) in the layout's feature order. */
function flatIndex(layout, component, point) {
  let offset = 0;
  for (const [name, points] of layout.components) {
    if (name === component) return offset + points.indexOf(point);
    offset += points.length;
  }
  throw new Error(`${component}/${point} is not in this layout`);
}

function layoutInfo(layout) {
  if (!layout._info) {
    const numPoints = layout.components.reduce((n, [, points]) => n + points.length, 0);
    const kept = new Uint8Array(numPoints).fill(1);
    for (const [component, point] of layout.hidden || []) kept[flatIndex(layout, component, point)] = 0;
    const shoulders = layout.shoulders ? layout.shoulders.map(([c, p]) => flatIndex(layout, c, p)) : null;
    const names = layout.components.flatMap(([c, points]) => points.map((p) => [c, p]));
    const position = new Map(names.map(([c, p], i) => [`${c}/${p}`, i]));
    const swap = (s) => (s.includes("LEFT") ? s.replaceAll("LEFT", "RIGHT") : s.replaceAll("RIGHT", "LEFT"));
    const mirror = names.map(([c, p], i) => position.get(`${swap(c)}/${swap(p)}`) ?? i);
    const has = new Set(layout.components.map(([c]) => c));
    const bothHands = has.has("LEFT_HAND_LANDMARKS") && has.has("RIGHT_HAND_LANDMARKS");
    const hand = (side) => (bothHands ? flatIndex(layout, `${side}_HAND_LANDMARKS`, "WRIST") : -1);
    const handPoints = bothHands ? layout.components.find(([c]) => c === "LEFT_HAND_LANDMARKS")[1].length : 0;
    layout._info = { numPoints, kept, shoulders, mirror, bothHands, left: hand("LEFT"), right: hand("RIGHT"), handPoints };
  }
  return layout._info;
}

/** (K,) 1 for the layout's points that become features, 0 for the hidden ones (the legs). */
export function keptPoints(layout) {
  return layoutInfo(layout).kept;
}

/** Raw keypoints -> (T, 3K) float32 features, as Python's `normalize_keypoints` + `refuse_invalid`. */
export function keypointsToFeatures(points, confidence, frames, layout, name = "<array>") {
  const info = layoutInfo(layout);
  const K = info.numPoints;
  const D = 3 * K;
  const features = new Float32Array(frames * D);
  if (!info.shoulders) {
    for (let f = 0; f < frames; f++) {
      for (let k = 0; k < K; k++) {
        if (!(confidence[f * K + k] > 0 && info.kept[k])) continue;
        for (let d = 0; d < 3; d++) features[f * D + 3 * k + d] = points[(f * K + k) * 3 + d];
      }
    }
  } else {
    // float64 statistics over the frames where both shoulders are seen, as pose-format `Pose.normalize`
    const [right, left] = info.shoulders;
    let count = 0;
    const center = [0, 0, 0];
    let distance = 0;
    for (let f = 0; f < frames; f++) {
      if (!(confidence[f * K + right] > 0 && confidence[f * K + left] > 0)) continue;
      count += 1;
      let squares = 0;
      for (let d = 0; d < 3; d++) {
        const r = points[(f * K + right) * 3 + d];
        const l = points[(f * K + left) * 3 + d];
        center[d] += (r + l) / 2;
        squares += (r - l) ** 2;
      }
      distance += Math.sqrt(squares);
    }
    if (count === 0) {
      throw new PoseError("degenerate", name, "no frame has both shoulders; shoulder normalization is impossible");
    }
    distance /= count;
    const shift = center.map((c) => Math.fround(c / count));
    if (!(distance > 0)) {
      if (Number.isNaN(distance)) refuseNonFinite(points, confidence, frames, K, name, null);
      throw new PoseError("degenerate", name, "the shoulders coincide in every frame (shoulder distance 0)");
    }
    const scale = Math.fround(1 / distance);
    for (let f = 0; f < frames; f++) {
      for (let k = 0; k < K; k++) {
        if (!(confidence[f * K + k] > 0 && info.kept[k])) continue;
        const base = (f * K + k) * 3;
        for (let d = 0; d < 3; d++) {
          features[f * D + 3 * k + d] = Math.fround(Math.fround(points[base + d] - shift[d]) * scale);
        }
      }
    }
  }
  for (let i = 0; i < features.length; i++) {
    if (!Number.isFinite(features[i])) refuseNonFinite(points, confidence, frames, K, name, Math.floor(i / D));
  }
  return features;
}

function refuseNonFinite(points, confidence, frames, K, name, featureFrame) {
  const bad = [];
  for (let f = 0; f < frames; f++) {
    for (let k = 0; k < K; k++) {
      const base = (f * K + k) * 3;
      const finite = [0, 1, 2].every((d) => Number.isFinite(points[base + d]));
      if (confidence[f * K + k] > 0 && !finite) {
        bad.push(f);
        break;
      }
    }
  }
  if (bad.length) {
    throw new PoseError(
      "nonfinite",
      name,
      `NaN or infinite coordinates on observed points in ${bad.length} frame(s), first frame ${bad[0]}`,
    );
  }
  throw new PoseError(
    "nonfinite",
    name,
    `coordinates too large: the features overflow float32 (first at frame ${featureFrame ?? 0}); check the file's units`,
  );
}

function handVariance(features, frames, D, start, points) {
  // float32 variance over frames of each of the hand's 3 × points features (numpy `var(axis=-2)` on float32)
  const out = new Float32Array(3 * points);
  for (let j = 0; j < 3 * points; j++) {
    let mean = 0;
    for (let f = 0; f < frames; f++) mean += features[f * D + 3 * start + j];
    mean /= frames;
    let v = 0;
    for (let f = 0; f < frames; f++) v += (features[f * D + 3 * start + j] - mean) ** 2;
    out[j] = Math.fround(v / frames);
  }
  return out;
}

/** The original's test-time rule (fairseq examples/MMPT) and the alternative, as Python's `left_handed_clips`. */
export function isLeftHanded(features, frames, layout, rule = "right_hand_still") {
  const info = layoutInfo(layout);
  if (!info.bothHands) throw new Error(`left_handed_rule='${rule}' needs a keypoint layout with both hands`);
  const D = 3 * info.numPoints;
  const right = handVariance(features, frames, D, info.right, info.handPoints);
  if (rule === "right_hand_still") return right.every((v) => v === 0);
  const left = handVariance(features, frames, D, info.left, info.handPoints);
  return left.reduce((a, b) => a + b, 0) > right.reduce((a, b) => a + b, 0);
}

/** Mirror (T, 3K) features: negate x and swap left/right points (missing points stay 0). */
export function mirrorFeatures(features, frames, layout) {
  const info = layoutInfo(layout);
  const K = info.numPoints;
  const out = new Float32Array(features.length);
  for (let f = 0; f < frames; f++) {
    for (let k = 0; k < K; k++) {
      const from = (f * K + info.mirror[k]) * 3;
      const to = (f * K + k) * 3;
      out[to] = -features[from];
      out[to + 1] = features[from + 1];
      out[to + 2] = features[from + 2];
    }
  }
  return out;
}

/** numpy's round-half-to-even. */
function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Frame indices kept so that at most `maxFrames` remain (Python's `select_frame_indices`). */
export function selectFrameIndices(numFrames, maxFrames, policy) {
  if (!LONG_CLIP_POLICIES.includes(policy)) {
    throw new Error(`long_clip_policy must be one of ${LONG_CLIP_POLICIES.join(", ")}, got '${policy}'`);
  }
  const count = Math.min(numFrames, maxFrames);
  if (numFrames <= maxFrames || policy === "truncate") return Array.from({ length: count }, (_, i) => i);
  // np.round(np.linspace(0, numFrames - 1, maxFrames)): i * step, the last point exactly numFrames - 1
  const step = (numFrames - 1) / (maxFrames - 1);
  return Array.from({ length: maxFrames }, (_, i) => (i === maxFrames - 1 ? numFrames - 1 : roundHalfEven(i * step)));
}

/** Feature extractor settings (`preprocessor_config.json`) with the Python defaults. */
export function extractorSettings(saved = {}) {
  return {
    keypoint_layout: saved.keypoint_layout ?? "holistic",
    max_frames: saved.max_frames ?? 256,
    long_clip_policy: saved.long_clip_policy ?? "subsample",
    mirror_left_handed: saved.mirror_left_handed ?? false,
    left_handed_rule: saved.left_handed_rule ?? "right_hand_still",
  };
}

/** `.pose` bytes -> what the pose graph gets for one clip: { values: Float32Array (frames, dim), frames, dim,
 * sourceFrames, keypoints }. `layouts` maps layout names to { components, shoulders, hidden }. */
export function poseFeatures(bytes, layouts, settings, name = "<.pose data>") {
  settings = extractorSettings(settings);
  const layoutName = settings.keypoint_layout;
  const layout = layouts[layoutName];
  if (!layout) throw new Error(`keypoint_layout must be one of ${Object.keys(layouts).join(", ")}, got '${layoutName}'`);
  const keypoints = readKeypoints(bytes, layout, layoutName, name);
  let features = keypointsToFeatures(keypoints.points, keypoints.confidence, keypoints.frames, layout, name);
  const D = 3 * keypoints.numPoints;
  if (settings.mirror_left_handed && isLeftHanded(features, keypoints.frames, layout, settings.left_handed_rule)) {
    features = mirrorFeatures(features, keypoints.frames, layout);
  }
  const kept = selectFrameIndices(keypoints.frames, settings.max_frames, settings.long_clip_policy);
  let values = features;
  if (kept.length !== keypoints.frames) {
    values = new Float32Array(kept.length * D);
    kept.forEach((frame, row) => values.set(features.subarray(frame * D, (frame + 1) * D), row * D));
  }
  return { values, frames: kept.length, dim: D, sourceFrames: keypoints.frames, keypoints };
}
