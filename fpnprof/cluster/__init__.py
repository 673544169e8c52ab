"""Measured sweeps and calibration on a Ray cluster (``--cluster ray[=ADDRESS]``, the ``cluster`` extra).

The configurations go out as Ray tasks, each a group timed side by side with the sweep's baseline on
one node that it has to itself; every result is stored by the driver as soon as its group is in, under
a key of its configuration, timing setup and node kind, so that the same command run again measures
only what is missing. Ratios and Pareto fronts are never formed across node kinds.

- :mod:`~fpnprof.cluster.connect`: the ``--cluster`` value, Ray imported, started or reached.
- :mod:`~fpnprof.cluster.kinds`: a node's kind (from the latency model's machine fingerprint).
- :mod:`~fpnprof.cluster.nodes`: the nodes a run times on, by kind, and what a task reserves on one.
- :mod:`~fpnprof.cluster.plan`: groups of configurations, the jobs sent out, the resume keys.
- :mod:`~fpnprof.cluster.tasks`: what runs on a node (identify it, time a group, calibrate).
- :mod:`~fpnprof.cluster.results`: one configuration's result on one node kind.
- :mod:`~fpnprof.cluster.store`: where results are kept (the run history, or a JSON Lines file).
- :mod:`~fpnprof.cluster.sweep`: the driver: dispatch, collect, store, progress, Ctrl-C.
- :mod:`~fpnprof.cluster.report`: the sweep's table, one section per node kind.
- :mod:`~fpnprof.cluster.calibrate`: one latency model per node kind.

Ray is imported only by :mod:`connect`'s callers at run time; nothing here imports a framework.
"""
