"""The ``hydraflow_local`` launcher: a bounded pool of forked processes on this machine.

:mod:`.backend` is what the Hydra plugin calls, :mod:`.pool` the process pool, :mod:`.payload` what a child
sends back. Importing the package imports nothing.
"""
