"""Following Hugging Face jobs after submission.

``watcher`` (polling and the scheduler), ``log_reader`` (what is new in each log tail),
``report`` (the one "job finished" value and the agent's note), ``reporting`` (reporting it
exactly once), ``stages`` (the stage vocabulary), ``records`` (the ``jobs`` table), ``metrics``
(parsing log lines), ``schedule`` (polling intervals).
"""

from .records import JobRecord, JobStore
from .report import JobFinished
from .watcher import JobWatcher

__all__ = ["JobFinished", "JobRecord", "JobStore", "JobWatcher"]
