"""xrm-contacts: accounts, contacts and activities; timelines, duplicates and merges."""

from xrm_contacts.actions import timeline_action
from xrm_contacts.duplicates import ALLOW_DUPLICATE, Duplicate, find_duplicates, normalize
from xrm_contacts.merge import MergeReport, merge
from xrm_contacts.timeline import TimelineItem, timeline

__all__ = [
    "ALLOW_DUPLICATE",
    "Duplicate",
    "MergeReport",
    "TimelineItem",
    "find_duplicates",
    "merge",
    "normalize",
    "timeline",
    "timeline_action",
]
