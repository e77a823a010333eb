"""Hydra launcher plugins of hydraflow: ``hydraflow_local``, ``hydraflow_slurm`` and ``hydraflow_pbs``.

The configs are registered by :mod:`.config` (their fields are declared in :mod:`hydraflow.launch.config`),
the thin Launcher classes live in :mod:`.launcher`; the work is done by the backends in
:mod:`hydraflow.launch`, imported only when a launcher is set up.
"""
