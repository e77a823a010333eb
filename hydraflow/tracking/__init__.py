"""Tracking runtime: ``@hydraflow.main`` (one MLflow run per Hydra job, deduplicated), deterministic ids.

Importing this package registers the ``hydraflow.id`` OmegaConf resolver; MLflow is only imported when a job
runs.
"""

from __future__ import annotations

from hydraflow.tracking.ids import (
    ID_LENGTH,
    RESOLVER_NAME,
    FingerprintError,
    canonical_json,
    fingerprint,
    register_resolver,
)
from hydraflow.tracking.main import IDENTITY_TAG, flatten_params, main
from hydraflow.tracking.store import FINGERPRINT_TAG, JOB_NAME_TAG, OVERRIDES_TAG, RETURN_TAG, VERSION_TAG

__all__ = [
    "FINGERPRINT_TAG",
    "IDENTITY_TAG",
    "ID_LENGTH",
    "JOB_NAME_TAG",
    "OVERRIDES_TAG",
    "RESOLVER_NAME",
    "RETURN_TAG",
    "VERSION_TAG",
    "FingerprintError",
    "canonical_json",
    "fingerprint",
    "flatten_params",
    "main",
    "register_resolver",
]

register_resolver()
