"""One way to reach an MLflow store, shared by the runtime (:mod:`hydraflow.tracking`) and analysis.

- :mod:`hydraflow.store.uri`: a tracking URI (a path, ``file:``, ``sqlite:``, ``postgresql:``/``mysql:``,
  ``http(s):``, ``databricks``...) resolved into a :class:`~hydraflow.store.uri.StoreRef`: the store's kind
  and its local locations;
- :mod:`hydraflow.store.errors`: what a store error means, decided by exception types and error codes
  (transient, already exists, not found), and :func:`~hydraflow.store.errors.retry`.

Nothing here imports MLflow: the analysis fast paths (file store, sqlite) never pay for it.
"""

from __future__ import annotations

from hydraflow.store.uri import StoreKind, StoreRef, parse_store, resolve_tracking_uri

__all__ = ["StoreKind", "StoreRef", "parse_store", "resolve_tracking_uri"]
