"""The ``hydraflow_slurm`` launcher: every batch is one ``sbatch`` job array (submitit's SLURM executor).

:mod:`.backend` is what the Hydra plugin calls (settings -> sbatch parameters, the array launch),
:mod:`.queries` what it asks the cluster (``MaxArraySize``, ``sacct``/``squeue`` states, ``scancel``).
Importing the package imports nothing.
"""
