// Builds ../assets/plotly-dashboard.min.js: plotly.js's core with only the trace types the
// dashboard draws (TRACES), with plotly.js's own esbuild settings (esbuild-config.js of the
// plotly.js package). `npm ci && npm run build` here; dashboard/app.py serves the file when its
// version is the one plotly.py writes figures for, and tests/test_plotly_bundle.py checks that
// every trace type the dashboard's figures use is listed in TRACES.
'use strict';
const path = require('path');
const esbuild = require('esbuild');
const { environmentPlugin } = require('esbuild-plugin-environment');
const { glsl } = require('esbuild-plugin-glsl');
const InlineCSSPlugin = require('esbuild-plugin-inline-css');

const TRACES = ['scatter', 'contour', 'heatmap', 'bar', 'surface', 'scatter3d'];
const OUT = path.join(__dirname, '..', 'assets', 'plotly-dashboard.min.js');
const version = require('plotly.js/package.json').version;

const entry = ["'use strict';", "var Plotly = require('plotly.js/lib/core');",
  'Plotly.register([' + TRACES.map(t => `require('plotly.js/lib/${t}')`).join(', ') + ']);',
  'module.exports = Plotly;'].join('\n');

esbuild.build({
  stdin: { contents: entry, resolveDir: __dirname, sourcefile: 'entry.js' },
  outfile: OUT, format: 'iife', globalName: 'Plotly', bundle: true, minify: true,
  sourcemap: false, legalComments: 'none', target: 'es2016', logLevel: 'info',
  banner: { js: `/*! plotly.js v${version} partial bundle; traces: ${TRACES.join(',')}\n` +
                ' * Copyright 2012-2026, Plotly, Inc. All rights reserved. Licensed under the MIT license.\n' +
                ' * Built by dashboard/plotly-bundle/build.js */' },
  plugins: [InlineCSSPlugin(), glsl({ minify: true }), environmentPlugin({ NODE_DEBUG: false })],
  alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
  define: { global: 'window', 'define.amd': 'false' },
}).catch(() => process.exit(1));
