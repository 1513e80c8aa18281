// Clientside callbacks of the dashboard (registered in dashboard/callbacks.py): descent playback,
// the PNG export, and showing or hiding controls. Nothing here computes a result: playback only
// cuts the paths the server sent at the current frame, exactly as figures.overlay_traces does.
// Playback draws frames from a requestAnimationFrame loop of its own, and Dash hears of the frame
// only when playback stops (set_props on the slider), so no frame waits for a Dash render. While it
// plays, the contour's paths are drawn on an SVG layer of the player's own laid over the plot area
// (the figure's path traces are hidden meanwhile): a Plotly.restyle would recompute the whole figure,
// the contour included, on every frame. When playback stops, the layer is removed and the figure's
// own traces are restyled once to the frame it stopped at.
const PLAYER = {running: false, frame: 0, last: 0, t: 0, desc: null, info: null};
const FRAME_MS = 1000 / 30;      // at most 30 frames a second

// The plotly bundle registers its 3-D traces on first use (dashboard/plotly-bundle/build.js); once
// the first contour is painted, do it while the page waits for the server, so the first 3-D
// figure does not pay for it.
function registerLater() {
  const P = window.Plotly;
  glPixelRatio();
  if (P && P.registerLater && !P.laterRegistered) {
    (window.requestIdleCallback || window.setTimeout)(function () { P.registerLater(); });
  }
}

// plotly.js draws its WebGL scenes at twice the screen's resolution by default (plotGlPixelRatio 2,
// meant for image export): four times the pixels on an ordinary screen, where WebGL is often
// software-rendered. The 3-D views are drawn at the screen's own pixel ratio instead (a high-density
// screen keeps its 2). Set before the first 3-D figure: once every script has run, and again when
// the 3-D traces are registered (a page whose plotly.js came later).
function glPixelRatio() {
  const P = window.Plotly;
  if (P && P.setPlotConfig && !glPixelRatio.done) {
    glPixelRatio.done = true;
    P.setPlotConfig({plotGlPixelRatio: Math.min(4, Math.max(1, Math.round(window.devicePixelRatio || 1)))});
  }
}
document.addEventListener('DOMContentLoaded', glPixelRatio);

function iterationText(desc, f) {
  return desc ? ('iteration ' + desc.iters[f] + ' of ' + desc.iters[desc.iters.length - 1]) : '';
}

// ---- the playback layer: the contour's paths as SVG elements of our own ----
const SVG_NS = 'http://www.w3.org/2000/svg';
const MARKER_TRACES = ['start', 'left the window', 'current'];   // drawn as dots on the layer

function contourDiv() { return document.querySelector('#desc-contour .js-plotly-plot'); }

// Show or hide the figure's own path traces (their SVG groups; no restyle, so no recompute).
function showPathTraces(gd, info, shown) {
  const own = {};
  MARKER_TRACES.concat(info.names.map(function (n) { return 'path: ' + n; }))
    .forEach(function (k) { if (k in info.index) { own[info.index[k]] = true; } });
  gd.querySelectorAll('.scatterlayer .trace').forEach(function (g) {
    const d = g.__data__;
    const t = d && d[0] && d[0].trace;
    if (t && own[t.index]) { g.style.visibility = shown ? '' : 'hidden'; }
  });
}

function removeOverlay() {
  const gd = contourDiv();
  if (!gd) { return; }
  const svg = gd.querySelector('svg.playback-layer');
  if (svg) { svg.remove(); }
  if (PLAYER.info) { showPathTraces(gd, PLAYER.info, true); }
}

function svgEl(parent, tag, attrs) {
  const e = document.createElementNS(SVG_NS, tag);
  Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
  parent.appendChild(e);
  return e;
}

// The layer for gd (made on first use): a clip to the plot area, one <path> per path trace and
// one per marker trace, styled from the figure's own traces.
function overlayFor(gd, info) {
  let svg = gd.querySelector('svg.playback-layer');
  if (svg) { return svg; }
  const fl = gd._fullLayout;
  const holder = gd.querySelector('.svg-container');
  if (!fl || !holder) { return null; }
  svg = svgEl(holder, 'svg', {'class': 'playback-layer', width: fl.width, height: fl.height});
  svg.style.cssText = 'position:absolute;left:0;top:0;pointer-events:none;overflow:hidden';
  const clip = svgEl(svgEl(svg, 'defs', {}), 'clipPath', {id: 'playback-clip'});
  svg.__clip = svgEl(clip, 'rect', {});
  const g = svgEl(svg, 'g', {'clip-path': 'url(#playback-clip)'});
  svg.__paths = {};
  const style = function (name) { return gd._fullData[info.index[name]] || {}; };
  info.names.forEach(function (name) {
    const tr = style('path: ' + name), line = tr.line || {};
    svg.__paths[name] = svgEl(g, 'path', {fill: 'none', stroke: line.color || info.colors[name],
                                          'stroke-width': line.width || 2, 'stroke-opacity': tr.opacity || 1});
  });
  MARKER_TRACES.forEach(function (name) {
    const tr = style(name), mk = tr.marker || {};
    const fill = name === 'current' ? 'none' : (typeof mk.color === 'string' ? mk.color : '#444');
    svg.__paths[name] = svgEl(g, 'g', {'data-size': mk.size || 8, 'data-fill': fill,
                                       stroke: (mk.line && mk.line.color) || '#fff'});
  });
  return svg;
}

// Frame f on the layer: the same cut as drawFrame, mapped to pixels by the figure's axes.
function drawOverlay(gd, info, cut, drawn, f) {
  const svg = overlayFor(gd, info);
  if (!svg) { return false; }
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  svg.__clip.setAttribute('x', xa._offset); svg.__clip.setAttribute('y', ya._offset);
  svg.__clip.setAttribute('width', xa._length); svg.__clip.setAttribute('height', ya._length);
  const px = function (u) { return (xa._offset + xa.l2p(u)).toFixed(1); };
  const py = function (v) { return (ya._offset + ya.l2p(v)).toFixed(1); };
  info.names.forEach(function (name) {
    let d = '';
    cut.forEach(function (c) {
      if (c.o !== name) { return; }
      let pen = 'M';
      for (let i = 0; i < c.u.length; i++) {
        if (c.u[i] === null || c.v[i] === null) { pen = 'M'; continue; }
        d += pen + px(c.u[i]) + ',' + py(c.v[i]);
        pen = 'L';
      }
    });
    svg.__paths[name].setAttribute('d', d);
  });
  const dots = function (name, pts, colours) {
    const g = svg.__paths[name];
    const r = 0.5 * Number(g.getAttribute('data-size'));
    while (g.childNodes.length > pts.length) { g.removeChild(g.lastChild); }
    while (g.childNodes.length < pts.length) { svgEl(g, 'circle', {}); }
    pts.forEach(function (p, k) {
      const e = g.childNodes[k];
      e.setAttribute('cx', px(p[0])); e.setAttribute('cy', py(p[1])); e.setAttribute('r', r);
      e.setAttribute('fill', colours ? colours[k] : g.getAttribute('data-fill'));
    });
  };
  dots('start', drawn.map(function (d) { return [d[0].u[d[1]], d[0].v[d[1]]]; }));
  const gone = [];
  cut.forEach(function (c) { c.ex.forEach(function (e) { gone.push([c.u[e], c.v[e]]); }); });
  dots('left the window', gone);
  dots('current', drawn.map(function (d) { return [d[0].u[f], d[0].v[f]]; }),
       drawn.map(function (d) { return info.colors[d[0].o]; }));
  showPathTraces(gd, info, false);
  return true;
}

// Draw frame f of the descent's paths on the contour and (when paused, at the end, or on the first
// frame of a playback) on the surface: cut the paths at f, as figures.overlay_traces does. A restyle
// of the 3-D surface costs hundreds of milliseconds with software WebGL, so the surface does not
// follow every frame while playing: it shows where playback started until playback stops.
function drawFrame(desc, info, f, paused, first) {
  const idx = info.index, names = info.names, colors = info.colors;
  const F = desc.iters.length;
  ['desc-contour', 'desc-surface'].forEach(function (id) {
    const gd = document.querySelector('#' + id + ' .js-plotly-plot');
    if (!gd || !gd.layout || !gd.layout.meta || gd.layout.meta.config !== desc.tag) { return; }
    const three = id === 'desc-surface';
    if (three && !paused && !first && f < F - 1) { return; }
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
    if (!three && !paused && drawOverlay(gd, info, cut, drawn, f)) { return; }
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
    // A paused frame: one restyle (data and the current points' colours together), which
    // recomputes the whole figure; playing frames of the contour go to the layer above instead.
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
  removeOverlay();
  const set = window.dash_clientside.set_props;
  set('desc-slider', {value: PLAYER.frame});
  set('desc-play', {children: '▶ Play'});
}

function playLoop(now) {
  if (!PLAYER.running) { return; }
  if (now - PLAYER.t >= FRAME_MS - 4) {      // slack: a 60 Hz display's every second frame
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
        removeOverlay();
        return [last, Math.max(last, 1), '▶ Play', iterationText(desc, last)];
      }
      if (trig === 'desc-play') {
        if (PLAYER.running) {                   // pause where it is
          PLAYER.running = false;
          removeOverlay();
          return [PLAYER.frame, nu, '▶ Play', iterationText(desc, PLAYER.frame)];
        }
        if (!desc || !info || last < 1 || !window.Plotly) { return [nu, nu, '▶ Play', nu]; }
        Object.assign(PLAYER, {running: true, frame: frame >= last ? 0 : frame, last: last, t: 0,
                               desc: desc, info: info});
        drawFrame(desc, info, PLAYER.frame, false, true);
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
    // A page's items of the URL (``prefix.key=value``, in order), or no_update when they did not
    // change: the page's server-side URL sync (pages/url.py) runs only when its own keys changed.
    urlSlice: function (search, now, prefix) {
      const own = (search || '').replace(/^\?/, '').split('&').filter(function (kv) {
        let k = kv.split('=')[0];
        try { k = decodeURIComponent(k.replace(/\+/g, ' ')); } catch (e) { /* keep it raw */ }
        return k.indexOf(prefix) === 0;
      }).join('&');
      return own === (now || '') ? window.dash_clientside.no_update : own;
    },
    // The {config, scale} of the view behind the tab shown (the others keep theirs): a control change
    // computes only the visible view, and a tab computes once per config. The views check both.
    views: function (config, scale, tab, tabs, current) {
      const nu = window.dash_clientside.no_update;
      return tabs.map(function (t, k) {
        const cur = current[k];
        if (!config || t !== tab || (cur && cur.config === config && cur.scale === scale)) { return nu; }
        return {config: config, scale: scale};
      });
    },
    // The error store ({message id: text}) onto the message lines, blank where it has nothing.
    // Each message line whose text changes is set (set_props), the others are left alone.
    errors: function (errors, lines) {
      const e = (errors && typeof errors === 'object') ? errors : {};
      lines.forEach(function (id) {
        const text = typeof e[id] === 'string' ? e[id] : '';
        const el = document.getElementById(id);
        if (!el || el.textContent !== text) { window.dash_clientside.set_props(id, {children: text}); }
      });
    },
    // views() for the tab stores, urlSlice() for each page's store and, on a tab without the
    // landscape, the config for the mask picture (there no painted contour starts it), in one callback.
    // The pages' stores (ids ``slices``) are set with set_props, each only where its slice changed.
    shown: function (config, scale, tab, search, tabs, prefixes, slices, landscape, current) {
      const dc = window.dash_clientside, d = dc.dashboard;
      prefixes.forEach(function (p, k) {
        const own = d.urlSlice(search, current[tabs.length + k], p);
        if (own !== dc.no_update) { dc.set_props(slices[k], {data: own}); }
      });
      const maskNow = current[tabs.length + prefixes.length];
      const mask = (config && tab !== landscape && config !== maskNow) ? config : dc.no_update;
      return d.views(config, scale, tab, tabs, current.slice(0, tabs.length)).concat([mask]);
    },
    sidebar: function (tab, own) {
      return own.indexOf(tab) >= 0 ? {display: 'none'} : {};
    },
    // The contour's key once the browser has painted it: two animation frames after the response
    // that carried it and the graph's first layout (the figure is committed before the next frame,
    // painted by the second; on page load the graph mounts only once its code has loaded). The
    // follow-ups (3-D surface, critical points, mask picture) start from this, so neither their
    // server work nor the surface's WebGL draw runs before the contour is on the screen. Where no
    // frame comes (a tab in the background, a headless page on virtual time) a timer checks the
    // layout instead and stands in for the two frames, so the follow-ups still start.
    // One wait at a time: a newer key ends the older wait with no_update (on a tab without the
    // landscape the wait lasts until the landscape is shown, and each change started another).
    painted: function (key, shown) {
      const d = window.dash_clientside.dashboard;
      if (d._paintedCancel) { d._paintedCancel(); }
      if (shown === false) { return window.dash_clientside.no_update; }
      return new Promise(function (resolve) {
        let stage = 0;                 // 0: waiting for the graph's layout, 1: for the paint, 2: done
        let timer = null;
        const end = function (value) {
          if (stage < 2) { stage = 2; clearInterval(timer); resolve(value); }
          if (d._paintedCancel === cancel) { d._paintedCancel = null; }
        };
        const cancel = function () { end(window.dash_clientside.no_update); };
        d._paintedCancel = cancel;
        const finish = function () { end(key); registerLater(); };
        const laidOut = function () {  // mounted and laid out by plotly (a message figure has no traces)
          const g = document.querySelector('#land-contour .js-plotly-plot');
          return Boolean(g && g._fullLayout);
        };
        const go = function () {
          stage = 1;
          requestAnimationFrame(function () { requestAnimationFrame(finish); });
          setTimeout(finish, 250);
        };
        const onFrame = function () {
          if (stage === 0) { if (laidOut()) { go(); } else { requestAnimationFrame(onFrame); } }
        };
        timer = setInterval(function () { if (stage === 0 && laidOut()) { go(); } }, 100);
        requestAnimationFrame(onFrame);
      });
    },
  },
});
