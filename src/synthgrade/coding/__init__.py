"""The coding page: code responses in the browser with the model suggesting and choosing, nothing lost.

:func:`open_project` makes (or reopens) a project folder from a pool of responses; :func:`create_app` is the
FastAPI app; :func:`run_coding_server` serves it. Labels live in ``PROJECT/coding.sqlite``
(:class:`CodingStore`) and are mirrored to ``PROJECT/coded.csv`` and ``PROJECT/agreement.json``.
"""

from synthgrade.coding.database import DATABASE, Settings
from synthgrade.coding.export import AGREEMENT_FILE, CODED_FILE
from synthgrade.coding.history import Conflict
from synthgrade.coding.server import open_project, run_coding_server
from synthgrade.coding.store import CodingStore
from synthgrade.coding.trainer import DEFAULT_MIN_LABELS, DEFAULT_RETRAIN_EVERY, LoopSettings


def create_app(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - FastAPI is imported only when a page is served
    """See :func:`synthgrade.coding.app.create_app`."""
    from synthgrade.coding.app import create_app as _create_app

    return _create_app(*args, **kwargs)


__all__ = [
    "AGREEMENT_FILE",
    "CODED_FILE",
    "DATABASE",
    "DEFAULT_MIN_LABELS",
    "DEFAULT_RETRAIN_EVERY",
    "CodingStore",
    "Conflict",
    "LoopSettings",
    "Settings",
    "create_app",
    "open_project",
    "run_coding_server",
]
