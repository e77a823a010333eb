"""Hydra sweeper plugin ``hydra/sweeper=hydraflow``: the extended sweep syntax of :mod:`hydraflow.sweep`.

Hydra imports every public module of this package at every application start, so the modules here import only
the standard library and Hydra: the grammar and the validation code are imported when a sweep starts.
"""
