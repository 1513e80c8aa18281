// Builds ../assets/plotly-dashboard.min.js: plotly.js's core with only the trace types the
// dashboard draws (TRACES), with plotly.js's own esbuild settings (esbuild-config.js of the
// plotly.js package). `npm ci && npm run build` here; dashboard/app.py serves the file when its
// version is the one plotly.py writes figures for, and tests/test_plotly_bundle.py checks that
// every trace type the dashboard's figures use is listed in TRACES.
//
// The 3-D traces (LATER) are in the file but registered only when first needed: their modules'
// start-up was ~60 % of the bundle's evaluation (~0.45 s of ~0.7 s on the 2-core development
// machine), and the page's first view is a 2-D contour. esbuild runs a CommonJS module's body
// only when it is first required, so until Plotly.registerLater() runs they cost their parse
// alone. Plotly's entry points that take figures (newPlot, react, addTraces, restyle, toImage,
// validate) call it first when they are given a LATER trace type, so no figure can meet an
// unregistered type; the page calls it itself when idle after its first contour is painted.
//
// One patch of plotly.js's stack.gl code (IDLE_SCENE): a 3-D scene drew itself from a
// requestAnimationFrame loop that never stopped, so a page with the landscape's surface on it kept
// the renderer, the compositor and the GPU process busy at every display frame while nothing moved
// (~60 ms of CPU a second on the 2-core development machine, all of it gone with the surface
// purged). The patched loop runs at display rate while the pointer is over the scene or its camera
// moved in the last second, and otherwise asks for no frame at all: plotly draws each of its updates
// itself (scene.redraw), and a resize (a ResizeObserver; where there is none, a look four times a
// second), the wheel or a camera set by plotly asks for one frame, which goes on if the camera moves.
'use strict';
const path = require('path');
const esbuild = require('esbuild');
const { environmentPlugin } = require('esbuild-plugin-environment');
const { glsl } = require('esbuild-plugin-glsl');
const InlineCSSPlugin = require('esbuild-plugin-inline-css');

const FIRST = ['scatter', 'contour', 'heatmap', 'bar'];
const LATER = ['surface', 'scatter3d'];
const TRACES = FIRST.concat(LATER);
const OUT = path.join(__dirname, '..', 'assets', 'plotly-dashboard.min.js');
const version = require('plotly.js/package.json').version;

// [text in plotly.js/stackgl_modules/index.js, its replacement]; each must occur exactly once.
const IDLE_SCENE = [
  [`    var cameraMoved = scene.camera.tick()`,
   `    var cameraMoved = scene.camera.tick()
    if(cameraMoved) lastMoved = Date.now()`],
  [`  //Draw the whole scene
  function render() {
    if(scene._stopped || scene.contextLost) {
      return
    }
    // this order is important: ios safari sometimes has sync raf
    redraw()
    requestAnimationFrame(render)
  }

  scene.enableMouseListeners()
  render()`,
   `  //Draw the whole scene: at display rate while the camera moves or the pointer is over the scene;
  //still, nothing (plotly draws its updates itself, through scene.redraw; a resize, the wheel and a
  //camera set by plotly ask for one frame, which goes on if the camera moves)
  var lastMoved = 0, pointerIn = false, timer = null, frame = null, observed = null
  function render() {
    timer = frame = null
    if(scene._stopped || scene.contextLost) {
      return
    }
    redraw()
    schedule()
  }
  function schedule() {
    if(timer !== null || frame !== null) return
    if(pointerIn || Date.now() - lastMoved < 1000) {
      frame = requestAnimationFrame(render)
    } else if(typeof ResizeObserver === 'undefined' || !canvas.parentNode) {
      timer = setTimeout(render, 250)
    } else if(observed !== canvas.parentNode) {
      observed = canvas.parentNode
      new ResizeObserver(poke).observe(observed)
    }
  }
  function poke() {
    if(timer !== null) { clearTimeout(timer); timer = null }
    if(frame === null) frame = requestAnimationFrame(render)
  }
  canvas.addEventListener('pointerenter', function() { pointerIn = true; poke() })
  canvas.addEventListener('pointerleave', function() { pointerIn = false })
  canvas.addEventListener('wheel', poke, {passive: true})
  var lookAt = camera.lookAt
  camera.lookAt = function() { var r = lookAt.apply(this, arguments); poke(); return r }

  scene.enableMouseListeners()
  render()`],
];

const patchStackgl = {
  name: 'idle-scene',
  setup(build) {
    build.onLoad({ filter: /plotly\.js[\\/]stackgl_modules[\\/]index\.js$/ }, async (args) => {
      let text = await require('fs').promises.readFile(args.path, 'utf8');
      for (const [from, to] of IDLE_SCENE) {
        const n = text.split(from).length - 1;
        if (n !== 1) { throw new Error(`idle-scene patch: found ${n} times in ${args.path}:\n${from}`); }
        text = text.replace(from, () => to);
      }
      return { contents: text, loader: 'js' };
    });
  },
};

const modules = (names) => '[' + names.map(t => `require('plotly.js/lib/${t}')`).join(', ') + ']';
const entry = `'use strict';
var Plotly = require('plotly.js/lib/core');
Plotly.register(${modules(FIRST)});
var LATER = ${JSON.stringify(LATER)};
Plotly.laterRegistered = false;
Plotly.registerLater = function () {
  if (!Plotly.laterRegistered) { Plotly.laterRegistered = true; Plotly.register(${modules(LATER)}); }
};
function types(x) {      // the trace types in traces, a trace, a figure or a restyle update
  if (!x || typeof x !== 'object') { return []; }
  if (Array.isArray(x)) { return x.map(function (t) { return t && t.type; }); }
  if (Array.isArray(x.data)) { return types(x.data); }
  return [].concat(x.type);
}
function needsLater(args) {
  for (var i = 0; i < args.length && i < 2; i++) {
    if (types(args[i]).some(function (t) { return LATER.indexOf(t) >= 0; })) { return true; }
  }
  return false;
}
['newPlot', 'react', 'addTraces', 'restyle', 'toImage', 'validate'].forEach(function (name) {
  var f = Plotly[name];
  if (typeof f !== 'function') { return; }
  Plotly[name] = function () {
    if (!Plotly.laterRegistered && needsLater(arguments)) { Plotly.registerLater(); }
    return f.apply(this, arguments);
  };
});
module.exports = Plotly;`;

esbuild.build({
  stdin: { contents: entry, resolveDir: __dirname, sourcefile: 'entry.js' },
  outfile: OUT, format: 'iife', globalName: 'Plotly', bundle: true, minify: true,
  sourcemap: false, legalComments: 'none', target: 'es2016', logLevel: 'info',
  banner: { js: `/*! plotly.js v${version} partial bundle; traces: ${TRACES.join(',')}\n` +
                ' * Copyright 2012-2026, Plotly, Inc. All rights reserved. Licensed under the MIT license.\n' +
                ' * Built by dashboard/plotly-bundle/build.js */' },
  plugins: [patchStackgl, InlineCSSPlugin(), glsl({ minify: true }), environmentPlugin({ NODE_DEBUG: false })],
  alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
  define: { global: 'window', 'define.amd': 'false' },
}).catch(() => process.exit(1));
