"""Launcher backends: ``local`` (forked process pool), ``slurm`` (sbatch job arrays), ``pbs`` (PBS/Torque).

One folder per scheduler, each with a ``backend`` module that the Hydra plugin
``hydra_plugins.hydraflow_launcher`` calls (``configure(params)``, then ``launch(conf, batch)``); the launcher
settings of all three are declared once in :mod:`.config`; the array-launch loop of the batch schedulers is
:mod:`.batch`; what every backend shares is :mod:`.common`. Importing this package imports nothing.
"""
