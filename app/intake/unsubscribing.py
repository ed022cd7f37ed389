"""The unsubscribe list: addresses that get no proactive email from a store.

Stored per store and lower-cased address; honoured by every follow-up (`app.jobs.followups`),
never by replies to a customer's own email. Unsubscribing twice is the same as once. An erased
customer's entry holds the address's hash (`app.db.delivery.address_hash`), still honoured.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.aftersale import FollowUp, Unsubscribe
from app.db.delivery import address_keys

logger = logging.getLogger(__name__)


def unsubscribe_followup_in(
    session: Session, followup_id: int, *, one_click: bool, now: datetime
) -> int:
    """Unsubscribe the recipient of a follow-up from its store; return the store's id."""
    followup = session.get(FollowUp, followup_id)
    if followup is None:
        raise LookupError(f"no follow-up {followup_id}")
    add_in(
        session,
        followup.store_id,
        followup.address,
        followup_id=followup.id,
        one_click=one_click,
        now=now,
    )
    return followup.store_id


def add_in(
    session: Session,
    store_id: int,
    address: str,
    *,
    followup_id: int | None,
    one_click: bool,
    now: datetime,
) -> None:
    """Put an address on a store's unsubscribe list (nothing changes if it is there)."""
    key = address.strip().lower()
    if is_unsubscribed_in(session, store_id, key):
        return
    session.add(
        Unsubscribe(
            store_id=store_id,
            address=key,
            followup_id=followup_id,
            one_click=one_click,
            unsubscribed_at=now,
        )
    )
    session.flush()
    logger.info("unsubscribed", extra={"store_id": store_id, "one_click": one_click})


def is_unsubscribed_in(session: Session, store_id: int, address: str) -> bool:
    """Whether the address gets no proactive email from this store."""
    statement = select(Unsubscribe.id).where(
        Unsubscribe.store_id == store_id, Unsubscribe.address.in_(address_keys(address))
    )
    return session.execute(statement.limit(1)).scalar_one_or_none() is not None
