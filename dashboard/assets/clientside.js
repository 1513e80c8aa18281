// Clientside callbacks of the dashboard (registered in dashboard/callbacks.py): descent playback,
// the PNG export, and showing or hiding controls. Nothing here computes a result: playback only
// cuts the paths the server sent at the current frame, exactly as figures.overlay_traces does.
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  dashboard: {
    // ---- descent player: the slider, the timer and the play button (no server round trip) ----
    player: function (playClicks, ticks, desc, slider, disabled) {
      const ctx = window.dash_clientside.callback_context;
      const trig = ctx.triggered.length ? ctx.triggered[0].prop_id.split('.')[0] : null;
      const iters = (desc && desc.iters) || [0];
      const last = iters.length - 1;
      let frame = Math.max(0, Math.min(slider || 0, last));
      let playing = !disabled;
      if (trig === 'desc-play') {
        if (playing) { playing = false; } else { frame = frame >= last ? 0 : frame; playing = last > 0; }
      } else if (trig === 'desc-interval') {
        if (playing) { frame = Math.min(frame + 1, last); playing = frame < last; }
      } else if (trig === 'descent-store') {
        frame = last; playing = false;
      }
      const text = desc ? ('iteration ' + iters[frame] + ' of ' + iters[last]) : '';
      return [frame, Math.max(last, 1), !playing, playing ? '❚❚ Pause' : '▶ Play', text];
    },

    // ---- one frame: restyle the path overlays of the descent contour and surface ----
    frame: function (frame, desc, info, tab, paused) {
      const nu = window.dash_clientside.no_update;
      if (!desc || !info || tab !== 'descent' || !window.Plotly) { return nu; }
      const F = desc.iters.length;
      const f = Math.max(0, Math.min(frame || 0, F - 1));
      const idx = info.index, names = info.names, colors = info.colors;
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
        if (three) {
          window.Plotly.restyle(gd, {x: xs, y: ys, z: zs}, traces);
          window.Plotly.restyle(gd, {'marker.color': [colours]}, [idx['current']]);
          return;
        }
        // 2-D: animate without redraw, plotly.js's scatter-only path. A restyle would recompute the
        // contour trace too (~0.3 s a frame for 201² in software rendering); this touches the paths alone.
        const data = xs.map(function (x, k) {
          const d = {x: x, y: ys[k]};
          if (traces[k] === idx['current']) { d.marker = {color: colours}; }
          return d;
        });
        window.Plotly.animate(gd, {data: data, traces: traces},
                              {transition: {duration: 0}, frame: {duration: 0, redraw: false}, mode: 'immediate'});
      });
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
