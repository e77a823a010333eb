"""One reader per kind of MLflow store, each listing run directories and reading run info the fast way.

- :mod:`~hydraflow.analysis.readers.file`: a file store (``./mlruns``), straight from its files;
- :mod:`~hydraflow.analysis.readers.sqlite`: a sqlite database, read-only with :mod:`sqlite3`, batched;
- :mod:`~hydraflow.analysis.readers.client`: everything else (an ``mlflow server``, PostgreSQL/MySQL,
  Databricks) through ``MlflowClient.search_runs`` in pages.

:mod:`hydraflow.analysis.store` picks the reader from the tracking URI (:func:`hydraflow.store.parse_store`).
"""
