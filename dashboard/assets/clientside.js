// Clientside callbacks of the dashboard (registered in dashboard/callbacks.py): descent playback,
// the PNG export, and showing or hiding controls. Nothing here computes a result: playback only
// cuts the paths the server sent at the current frame, exactly as figures.overlay_traces does.
// Playback draws frames from a requestAnimationFrame loop of its own: a frame restyles only the path
// traces and sets the iteration text, and Dash hears of the frame only when playback stops (set_props
// on the slider), so no frame waits for a Dash render.
const PLAYER = {running: false, frame: 0, last: 0, t: 0, desc: null, info: null};
const FRAME_MS = 1000 / 30;      // at most 30 frames a second

function iterationText(desc, f) {
  return desc ? ('iteration ' + desc.iters[f] + ' of ' + desc.iters[desc.iters.length - 1]) : '';
}

// Draw frame f of the descent's paths on the contour and (when paused, at the end, or every
// info.surface_every frames) on the surface: cut the paths at f, as figures.overlay_traces does.
function drawFrame(desc, info, f, paused) {
  const idx = info.index, names = info.names, colors = info.colors;
  const F = desc.iters.length;
  ['desc-contour', 'desc-surface'].forEach(function (id) {
    const gd = document.querySelector('#' + id + ' .js-plotly-plot');
    if (!gd || !gd.layout || !gd.layout.meta || gd.layout.meta.config !== desc.tag) { return; }
    const three = id === 'desc-surface';
    if (three && !paused && f < F - 1 && f % info.surface_every !== 0) { return; }
    const m = gd.layout.meta;
    const height = function (J) {
      if (J === null || J === undefined) { return null; }
      let z = m.scale === 'log' ? Math.log10(Math.max(J, 0) + m.floor) : J;
      if (m.z_min !== null && m.z_min !== undefined) { z = Math.max(z, m.z_min); }
      if (m.z_max !== null && m.z_max !== undefined) { z = Math.min(z, m.z_max); }
      return z;
    };
    const cut = desc.u.map(function (u, s) {
      return {u: u.slice(0, f + 1), v: desc.v[s].slice(0, f + 1), J: desc.J[s].slice(0, f + 1),
              o: desc.outcome[s], ex: ((desc.exit && desc.exit[s]) || []).filter(function (e) { return e <= f; })};
    });
    const traces = [], xs = [], ys = [], zs = [];
    const push = function (name, x, y, J) {
      traces.push(idx[name]); xs.push(x); ys.push(y); zs.push(J.map(height));
    };
    const drawn = [];
    cut.forEach(function (c) {
      const i = c.u.findIndex(function (x) { return x !== null; });
      if (i >= 0) { drawn.push([c, i]); }
    });
    push('start', drawn.map(function (d) { return d[0].u[d[1]]; }), drawn.map(function (d) { return d[0].v[d[1]]; }),
         drawn.map(function (d) { return d[0].J[d[1]]; }));
    names.forEach(function (name) {
      const x = [], y = [], J = [];
      cut.filter(function (c) { return c.o === name; }).forEach(function (c, k) {
        if (k > 0) { x.push(null); y.push(null); J.push(null); }
        Array.prototype.push.apply(x, c.u); Array.prototype.push.apply(y, c.v); Array.prototype.push.apply(J, c.J);
      });
      push('path: ' + name, x, y, J);
    });
    const gone = [];
    cut.forEach(function (c) { c.ex.forEach(function (e) { gone.push([c.u[e], c.v[e], c.J[e]]); }); });
    push('left the window', gone.map(function (g) { return g[0]; }), gone.map(function (g) { return g[1]; }),
         gone.map(function (g) { return g[2]; }));
    push('current', drawn.map(function (d) { return d[0].u[f]; }), drawn.map(function (d) { return d[0].v[f]; }),
         drawn.map(function (d) { return d[0].J[f]; }));
    const colours = drawn.map(function (d) { return colors[d[0].o]; });
    // One restyle a frame (data and the current points' colours together: each restyle recomputes
    // the whole figure, the contour included). Plotly.animate without redraw would be cheaper but
    // drops the contour trace from the plot.
    const markerColour = traces.map(function (t) {
      if (t === idx['current']) { return colours; }
      const tr = gd.data[t];
      return tr && tr.marker ? tr.marker.color : undefined;
    });
    const update = {x: xs, y: ys, 'marker.color': markerColour};
    if (three) { update.z = zs; }
    window.Plotly.restyle(gd, update, traces);
  });
}

function stopPlayer() {
  PLAYER.running = false;
  const set = window.dash_clientside.set_props;
  set('desc-slider', {value: PLAYER.frame});
  set('desc-play', {children: '▶ Play'});
}

function playLoop(now) {
  if (!PLAYER.running) { return; }
  if (now - PLAYER.t >= FRAME_MS) {
    PLAYER.t = now;
    PLAYER.frame = Math.min(PLAYER.frame + 1, PLAYER.last);
    const done = PLAYER.frame >= PLAYER.last;
    drawFrame(PLAYER.desc, PLAYER.info, PLAYER.frame, done);
    const el = document.getElementById('desc-iter-text');
    if (el) { el.textContent = iterationText(PLAYER.desc, PLAYER.frame); }
    if (done) { stopPlayer(); return; }
  }
  window.requestAnimationFrame(playLoop);
}

window.dash_clientside = Object.assign({}, window.dash_clientside, {
  dashboard: {
    // ---- descent player: the play button, the slider and the iteration text ----
    player: function (playClicks, desc, slider, info) {
      const nu = window.dash_clientside.no_update;
      const ctx = window.dash_clientside.callback_context;
      const trig = ctx.triggered.length ? ctx.triggered[0].prop_id.split('.')[0] : null;
      const iters = (desc && desc.iters) || [0];
      const last = iters.length - 1;
      const frame = Math.max(0, Math.min(slider || 0, last));
      if (trig === 'descent-store') {           // a new descent shows its end
        PLAYER.running = false;
        return [last, Math.max(last, 1), '▶ Play', iterationText(desc, last)];
      }
      if (trig === 'desc-play') {
        if (PLAYER.running) {                   // pause where it is
          PLAYER.running = false;
          return [PLAYER.frame, nu, '▶ Play', iterationText(desc, PLAYER.frame)];
        }
        if (!desc || !info || last < 1 || !window.Plotly) { return [nu, nu, '▶ Play', nu]; }
        Object.assign(PLAYER, {running: true, frame: frame >= last ? 0 : frame, last: last, t: 0,
                               desc: desc, info: info});
        drawFrame(desc, info, PLAYER.frame, false);
        window.requestAnimationFrame(playLoop);
        return [nu, nu, '❚❚ Pause', iterationText(desc, PLAYER.frame)];
      }
      if (PLAYER.running) { return [nu, nu, nu, nu]; }  // the loop owns the text while it plays
      return [nu, nu, nu, iterationText(desc, frame)];
    },

    // ---- a frame chosen on the slider (or where playback stopped) ----
    frame: function (frame, desc, info, tab) {
      const nu = window.dash_clientside.no_update;
      if (!desc || !info || tab !== 'descent' || !window.Plotly || PLAYER.running) { return nu; }
      const f = Math.max(0, Math.min(frame || 0, desc.iters.length - 1));
      drawFrame(desc, info, f, true);
      return '' + f;
    },

    // ---- the figure PNG button: the visible tab's main graph, drawn by plotly.js itself ----
    png: function (clicks, tab, graphs) {
      const nu = window.dash_clientside.no_update;
      if (!clicks || !window.Plotly) { return nu; }
      const gid = (graphs[tab] || [])[0];
      const gd = gid && document.querySelector('#' + gid + ' .js-plotly-plot');
      if (!gd || !gd.data || !gd.data.length) { return 'figure: nothing drawn in this view yet'; }
      window.Plotly.downloadImage(gd, {format: 'png', filename: tab, width: Math.max(gd.offsetWidth, 900),
                                       height: Math.max(gd.offsetHeight, 500)});
      return '';
    },

    // ---- what is shown ----
    sidebar: function (tab, own) {
      return own.indexOf(tab) >= 0 ? {display: 'none'} : {};
    },
    generator: function (kind) {
      const hide = {display: 'none'};
      const conditional = ['mnist', 'fashion', 'mnist-info', 'fashion-info'].indexOf(kind) >= 0;
      return [kind === 'conv' ? {} : hide, kind === 'custom' ? {} : hide, conditional ? {} : hide];
    },
    solver: function (method) {
      return [!(method === 'adam' || method === 'gd'), method !== 'gauss_newton'];
    },
  },
});
