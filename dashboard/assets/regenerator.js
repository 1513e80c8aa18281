// The part of the regenerator runtime that Dash's scripts use, in place of Dash's 99 KB babel polyfill
// (core-js for browsers without ES2017, plus this runtime). dash_renderer and dash_core_components
// compile one generator function with it (the lazy-component decorator: `yield` a promise, then set
// a flag), which calls regeneratorRuntime.mark and .wrap and, on its context, prev, next, sent and
// stop only; dashboard/app.py checks that at start-up and serves the polyfill otherwise.
window.regeneratorRuntime = window.regeneratorRuntime || {
  mark: function (fn) { return fn; },
  wrap: function (inner, outer, self) {
    const ctx = {prev: 0, next: 0, sent: undefined, done: false, rval: undefined,
                 stop: function () { this.done = true; return this.rval; }};
    function step(arg) {
      if (ctx.done) { return {value: undefined, done: true}; }
      ctx.sent = arg;
      const value = inner.call(self, ctx);
      return {value: value, done: ctx.done};
    }
    return {
      next: step,
      throw: function (err) { ctx.done = true; throw err; },
      return: function (value) { ctx.done = true; return {value: value, done: true}; },
    };
  },
};
