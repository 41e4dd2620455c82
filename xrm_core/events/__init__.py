"""The event pipeline: stages, subscribers, the outbox and webhooks.

Importing this package adds the outbox's tables (``xrm_event``, ``xrm_delivery``,
``xrm_delivery_attempt``) and ``xrm_webhook`` to the core's tables, so the
metadata service creates them with the others.
"""

from xrm_core.events.attempts import Attempt
from xrm_core.events.outbox import Delivery, Outbox, feed_only
from xrm_core.events.signing import verify_signature
from xrm_core.events.webhooks import Webhook, Webhooks
from xrm_core.events.worker import Worker

__all__ = [
    "Attempt",
    "Delivery",
    "Outbox",
    "Webhook",
    "Webhooks",
    "Worker",
    "feed_only",
    "verify_signature",
]
