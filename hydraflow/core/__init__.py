"""HydraFlow 0.23's module paths (``hydraflow.core.<module>``), for code written against HydraFlow.

Every module here only re-exports hydraflow's own implementation under the name HydraFlow gave it:
``from hydraflow.core.run import Run`` is :class:`hydraflow.analysis.Run`. New code imports from
:mod:`hydraflow` (or :mod:`hydraflow.analysis`, :mod:`hydraflow.tracking`). Nothing in hydraflow imports this
package (an import contract checks it).
"""
