"""Hydra launcher plugins of hydraflow: ``hydraflow_local``, ``hydraflow_slurm`` and ``hydraflow_pbs``.

The configs live in :mod:`.config`, the thin Launcher classes in :mod:`.launcher`; the work is done by the
backends in :mod:`hydraflow.launch`, imported only when a sweep is launched.
"""
