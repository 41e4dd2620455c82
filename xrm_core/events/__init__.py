"""The event pipeline: stages, subscribers, the outbox and (later) webhooks.

Importing this package adds the outbox's tables (``xrm_event``, ``xrm_delivery``)
to the core's tables, so the metadata service creates them with the others.
"""

from xrm_core.events.outbox import Delivery, Outbox, feed_only
from xrm_core.events.worker import Worker

__all__ = ["Delivery", "Outbox", "Worker", "feed_only"]
