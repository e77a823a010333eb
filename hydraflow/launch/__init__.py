"""Launcher backends: ``local`` (forked process pool), ``slurm`` (sbatch job arrays), ``pbs`` (PBS/Torque).

Each backend is one module, imported on demand by the Hydra plugin ``hydra_plugins.hydraflow_launcher``;
importing this package imports nothing heavy.
"""
