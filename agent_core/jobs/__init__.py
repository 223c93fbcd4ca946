"""Following Hugging Face jobs after submission: the watcher, its records, metrics and schedule."""

from .records import JobRecord, JobStore
from .watcher import JobWatcher, finished_note, manager_spend_adjuster

__all__ = ["JobRecord", "JobStore", "JobWatcher", "finished_note", "manager_spend_adjuster"]
