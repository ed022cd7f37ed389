"""`customers/data_request`: everything one store holds about one customer, as one JSON document.

The document lists the customer's rows table by table (emails with their headers, texts,
attachment metadata, recipients and authentication results; conversations; replies; the agent's
runs, model turns and tool calls; proposals; jobs; audit entries about them), every column as
stored. Bytes columns (the raw delivery) are left out: `raw_size` says how large it was, and
its content is what the parsed columns already show.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Base, PrivacyRequest, Store
from app.store.privacy.footprint import column_kind, find_customer, table_of

EXPORT_FORMAT = "shop-support-mail/privacy-export/1"


async def export_customer(
    session: AsyncSession, request: PrivacyRequest, *, now: datetime
) -> dict[str, Any]:
    """Store the request's export on it; return counts only (the summary)."""
    footprint = await find_customer(session, request.customer_email_hash)
    store = await session.get(Store, request.store_id)
    payload = request.request or {}
    document = {
        "format": EXPORT_FORMAT,
        "generated_at": now,
        "store": {
            "id": request.store_id,
            "name": store.name if store else None,
            "shop_domain": store.shop_domain if store else None,
        },
        "request": {
            "id": request.id,
            "shopify_customer_id": request.shopify_customer_id,
            "data_request_id": (payload.get("data_request") or {}).get("id"),
            "orders_requested": payload.get("orders_requested") or [],
            "received_at": request.received_at,
        },
        "customer": {
            "addresses": sorted(footprint.addresses),
            "names": sorted(footprint.names),
        },
        "counts": footprint.counts(),
        "data": {
            table_of(model).name: [_record(model, row) for row in rows]
            for model, rows in footprint.rows.items()
        },
    }
    request.export = json.dumps(document, default=_jsonable, ensure_ascii=False, indent=2).encode(
        "utf-8"
    )
    return {"exported": footprint.counts(), "addresses": len(footprint.addresses)}


def _record(model: type[Base], row: Any) -> dict[str, Any]:
    """A row as a JSON object: every column but bytes (never loaded here)."""
    return {
        column.key: getattr(row, column.key)
        for column in table_of(model).columns
        if column_kind(column) != "bytes"
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"not JSON: {type(value).__name__}")
