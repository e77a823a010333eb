"""The one place that knows Hydra's internals: private API, override classification, job composition.

Nothing outside this package imports ``hydra._internal`` or calls Hydra's private methods. Its modules:

- :mod:`.errors`: the typed errors of a sweep (:class:`~.errors.SweepError` and its subclasses);
- :mod:`.native`: Hydra's own sweep functions (``range()``, ``choice()``, ``glob()`` ...) as a native expander
  for :func:`hydraflow.sweep.expand`;
- :mod:`.argv`: a multirun command line made safe for Hydra (extended sweeps routed to the sweeper);
- :mod:`.arguments`: ``hydra.sweeper.params`` + command line -> sweep arguments -> the expanded sweep;
- :mod:`.overrides`: Hydra's parse of job overrides, config-group vs value overrides, and the grouping of
  jobs by their combination of config-group overrides (used by validation and by the launchers);
- :mod:`.compose`: job configs composed once per config-group combination (:class:`~.compose.JobComposer`);
- :mod:`.validate`: every job of a sweep checked against the app's config before the first launch.

Importing the package imports nothing (Hydra is imported by the modules, on use).
"""
