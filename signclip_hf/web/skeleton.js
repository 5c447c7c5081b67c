// Draws a clip's keypoints (the layout's points, as read from the .pose file) as an animated skeleton on a canvas.

const COLORS = {
  POSE_LANDMARKS: "#4c6ef5",
  FACE_LANDMARKS: "#adb5bd",
  LEFT_HAND_LANDMARKS: "#e8590c",
  RIGHT_HAND_LANDMARKS: "#2b8a3e",
};

/** Limbs between the layout's points: [layout index a, layout index b, component name]. */
export function layoutLimbs(keypoints) {
  const position = new Map(Array.from(keypoints.selection.indices, (flat, k) => [flat, k]));
  const limbs = [];
  let offset = 0;
  for (const component of keypoints.header.components) {
    for (const [a, b] of component.limbs) {
      const from = position.get(offset + a);
      const to = position.get(offset + b);
      if (from !== undefined && to !== undefined) limbs.push([from, to, component.name]);
    }
    offset += component.points.length;
  }
  return limbs;
}

/** Component name of each layout point. */
function pointComponents(layout) {
  return layout.components.flatMap(([name, points]) => points.map(() => name));
}

/** Animate `keypoints` on `canvas` at the clip's fps; returns a function that stops the animation. */
export function animateSkeleton(canvas, keypoints, layout, hiddenPoints) {
  const context = canvas.getContext("2d");
  const { points, confidence, frames, numPoints: K } = keypoints;
  const visible = (f, k) =>
    confidence[f * K + k] > 0 && !hiddenPoints[k] && Number.isFinite(points[(f * K + k) * 3]) &&
    Number.isFinite(points[(f * K + k) * 3 + 1]);
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
  for (let f = 0; f < frames; f++) {
    for (let k = 0; k < K; k++) {
      if (!visible(f, k)) continue;
      const [x, y] = [points[(f * K + k) * 3], points[(f * K + k) * 3 + 1]];
      [minX, minY, maxX, maxY] = [Math.min(minX, x), Math.min(minY, y), Math.max(maxX, x), Math.max(maxY, y)];
    }
  }
  const span = Math.max(maxX - minX, maxY - minY, 1e-6);
  const margin = 16;
  const scale = (Math.min(canvas.width, canvas.height) - 2 * margin) / span;
  const dx = (canvas.width - scale * (maxX - minX)) / 2;
  const dy = (canvas.height - scale * (maxY - minY)) / 2;
  const at = (f, k) => [dx + scale * (points[(f * K + k) * 3] - minX), dy + scale * (points[(f * K + k) * 3 + 1] - minY)];
  const limbs = layoutLimbs(keypoints);
  const components = pointComponents(layout);

  function draw(f) {
    context.fillStyle = "#fff";
    context.fillRect(0, 0, canvas.width, canvas.height);
    if (!Number.isFinite(minX)) return;
    context.lineWidth = 2;
    for (const [a, b, name] of limbs) {
      if (!visible(f, a) || !visible(f, b)) continue;
      context.strokeStyle = COLORS[name] || "#495057";
      context.beginPath();
      context.moveTo(...at(f, a));
      context.lineTo(...at(f, b));
      context.stroke();
    }
    for (let k = 0; k < K; k++) {
      if (!visible(f, k)) continue;
      context.fillStyle = COLORS[components[k]] || "#495057";
      const [x, y] = at(f, k);
      context.fillRect(x - 1.5, y - 1.5, 3, 3);
    }
    canvas.dataset.frame = String(f);
  }

  draw(0);
  const interval = 1000 / (keypoints.fps > 0 && keypoints.fps < 240 ? keypoints.fps : 25);
  let frame = 0;
  const timer = setInterval(() => {
    frame = (frame + 1) % frames;
    draw(frame);
  }, interval);
  return () => clearInterval(timer);
}
