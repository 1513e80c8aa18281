"""Large sweeps (many nets × activations × seeds) of the phase experiment on a Dask cluster.

One sweep item is one :class:`~core.phase.PhaseSpec`; :func:`sweep` maps :func:`phase_task` over
the items with ``dask.distributed`` and returns the results in the input order. There is no
home-made process pool: scheduling, retries and scaling out are Dask's.

Where it runs
-------------
* ``scheduler=None`` (default): a ``LocalCluster`` on this machine, one single-threaded worker
  process per core (torch is told to use one thread per task, so workers don't oversubscribe).
* ``scheduler="tcp://host:8786"``: an existing cluster. Start one with::

      dask scheduler                                   # on the head node, prints its address
      dask worker tcp://head:8786 --nthreads 1 --nworkers 8   # on every compute node

  (or ``dask_jobqueue`` / ``dask_kubernetes`` on a batch system or Kubernetes). The workers must
  run the same Python environment with this repository importable (``pip install -r
  requirements.txt`` and the repository on ``PYTHONPATH``), because tasks are sent as references
  to ``core.sweep.phase_task``. Then ``python -m core.sweep --scheduler tcp://head:8786 …`` or
  ``sweep(specs, scheduler="tcp://head:8786")``.
* ``scheduler="synchronous"``: no cluster, every task in this process, one after the other
  (debugging, tests).
* ``client=``: an existing ``dask.distributed.Client`` (e.g. a ``LocalCluster(processes=False)``).

``dask`` is imported lazily, so ``import core`` never needs it.
"""
from __future__ import annotations

import itertools
import os

from .config import ConfigError
from .phase import PhaseSpec

SWEEP_LIMITS = {"items": 10_000, "workers": 1024}


def phase_task(spec_json: str, threads: int = 1) -> dict:
    """Run one phase experiment (a sweep item) → its arrays, as :meth:`PhaseResult.to_npz_dict`."""
    from .phase import phase_transition

    return phase_transition(PhaseSpec.from_json(spec_json), threads=threads).to_npz_dict()


def grid_specs(base: PhaseSpec, nets: dict | None = None, activations=(None,), seeds=(None,)) -> list[tuple[dict, PhaseSpec]]:
    """The product nets × activations × weight seeds, as (label, spec) pairs.

    Parameters
    ----------
    base : PhaseSpec
    nets : dict, optional
        ``name → Config overrides`` (e.g. ``{"fig4": {}, "wide": {"channels": (2, 64, 1)}}``);
        default: the base net only.
    activations : iterable of str or None
        None keeps the base activation.
    seeds : iterable of int or None
        Weight seeds (a new random net each); None keeps the base seed.
    """
    nets = nets or {"base": {}}
    out = []
    for (name, over), act, seed in itertools.product(nets.items(), activations, seeds):
        changes = {"z_star": (), **over}  # the experiment draws its own z*; a fixed one would pin n0
        if act is not None:
            changes["activation"] = act
        if seed is not None:
            changes["weight_seed"] = seed
        spec = PhaseSpec.from_dict({**base.to_dict(), "config": base.config.replace(**changes)})
        out.append(({"net": name, "activation": spec.config.activation, "weight_seed": spec.config.weight_seed}, spec))
    if len(out) > SWEEP_LIMITS["items"]:
        raise ConfigError("items", f"the sweep has {len(out)} items; the limit is {SWEEP_LIMITS['items']}")
    return out


def sweep(specs, scheduler: str | None = None, client=None, n_workers: int | None = None,
          threads: int = 1, progress=None) -> list[dict]:
    """Run :func:`phase_task` on every spec through Dask; results in the order of ``specs``.

    Parameters
    ----------
    specs : list of PhaseSpec
    scheduler : str, optional
        None (a LocalCluster), ``"synchronous"``, or a scheduler address ``"tcp://host:port"``.
    client : dask.distributed.Client, optional
        Use this client (and leave it open); overrides ``scheduler``.
    n_workers : int, optional
        Worker processes of the LocalCluster (default: the number of cores).
    threads : int
        Torch threads per task.
    progress : callable, optional
        ``progress(done, total)`` as tasks finish.

    Returns
    -------
    list of dict
    """
    specs = list(specs)
    if not 1 <= len(specs) <= SWEEP_LIMITS["items"]:
        raise ConfigError("items", f"give between 1 and {SWEEP_LIMITS['items']} specs, got {len(specs)}")
    if not all(isinstance(s, PhaseSpec) for s in specs):
        raise ConfigError("items", "every item must be a PhaseSpec")
    if n_workers is not None and not 1 <= n_workers <= SWEEP_LIMITS["workers"]:
        raise ConfigError("n_workers", f"must be in [1, {SWEEP_LIMITS['workers']}], got {n_workers}")
    payloads = [s.to_json() for s in specs]
    if client is None and scheduler == "synchronous":
        import dask

        tasks = [dask.delayed(phase_task, pure=True)(p, threads) for p in payloads]
        results = []
        for i, t in enumerate(tasks):
            results.append(dask.compute(t, scheduler="synchronous")[0])
            if progress is not None:
                progress(i + 1, len(tasks))
        return results

    from dask.distributed import Client, LocalCluster, as_completed

    own_cluster = own_client = None
    if client is None:
        if scheduler:
            client = own_client = Client(scheduler)
        else:
            own_cluster = LocalCluster(n_workers=n_workers or os.cpu_count() or 1, threads_per_worker=1,
                                       processes=True, dashboard_address=None)
            client = own_client = Client(own_cluster)
    try:
        futures = client.map(phase_task, payloads, threads=threads, pure=False)
        if progress is not None:
            for i, _ in enumerate(as_completed(futures), start=1):
                progress(i, len(futures))
        return client.gather(futures)
    finally:
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()


def main(argv=None) -> int:
    """``python -m core.sweep``: a nets × activations × seeds sweep of the phase experiment to one .npz."""
    import argparse
    import json
    import sys

    import numpy as np

    from .config import from_preset
    from .phase import parse_patterns, parse_rates

    ap = argparse.ArgumentParser(prog="python -m core.sweep", description=main.__doc__)
    ap.add_argument("--preset", default="paper-fig4")
    ap.add_argument("--nets", default="{}", help='JSON {"name": {config overrides}}; default: the preset only')
    ap.add_argument("--activations", default="relu", help="comma-separated")
    ap.add_argument("--seeds", default="0", help="comma-separated weight seeds")
    ap.add_argument("--patterns", default="random,top,left,border")
    ap.add_argument("--rates", default="0.05:1:12")
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--restarts", type=int, default=4)
    ap.add_argument("--scheduler", default=None, help="tcp://host:port of a Dask scheduler, or 'synchronous'")
    ap.add_argument("--workers", type=int, default=None, help="LocalCluster worker processes")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    try:
        base = PhaseSpec(config=from_preset(args.preset, z_star=()), patterns=parse_patterns(args.patterns),
                         rates=parse_rates(args.rates), trials=args.trials, restarts=args.restarts)
        nets = json.loads(args.nets) or None
        items = grid_specs(base, nets, activations=parse_patterns(args.activations),
                           seeds=[int(s) for s in args.seeds.split(",") if s.strip()])
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    results = sweep([s for _, s in items], scheduler=args.scheduler, n_workers=args.workers,
                    progress=lambda d, t: print(f"\rsweep: {d}/{t}", end="", file=sys.stderr, flush=True))
    print(file=sys.stderr)
    np.savez_compressed(args.out, labels=np.array([json.dumps(lab) for lab, _ in items]),
                        rates=results[0]["rates"], patterns=results[0]["patterns"],
                        p_success=np.stack([r["p_success"] for r in results]),
                        ci_low=np.stack([r["ci_low"] for r in results]),
                        ci_high=np.stack([r["ci_high"] for r in results]),
                        r50=np.stack([r["r50"] for r in results]),
                        config=np.array([str(r["config"]) for r in results]))
    print(f"sweep: {len(results)} items; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
