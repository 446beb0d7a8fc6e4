"""Where tasks run: in this process, in local processes or on a Ray cluster, behind one interface.

``sweep`` (:mod:`synthgrade.experiment`) and ``build`` (:mod:`synthgrade.build`) both hand their tasks to an
:class:`Executor` made by :func:`make_executor` from a name in :data:`EXECUTORS` (``--executor``); a new engine
joins that table. Shared base: it needs only ``errors`` and ``io``.
"""

from synthgrade.executors.base import Executor, LocalExecutor, Outcome, ProcessExecutor, describe_error
from synthgrade.executors.engines import EXECUTORS, ExecutorOptions, make_executor

__all__ = [
    "EXECUTORS",
    "Executor",
    "ExecutorOptions",
    "LocalExecutor",
    "Outcome",
    "ProcessExecutor",
    "describe_error",
    "make_executor",
]
