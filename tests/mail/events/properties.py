"""Hypothesis strategies shared by the event parsers' property tests: arbitrary JSON."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from app.mail.adapter import InboundRequest
from app.mail.delivery import MAX_ADDRESS, MAX_EVENT_ID, EventBatch, EventError, EventSource

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)


def shaped(keys: list[str], values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects using the provider's own field names (so parsing gets past the first check)."""
    return st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), values, max_size=len(keys))


def check_parse(source: EventSource, payload: object) -> EventBatch | None:
    """Parse `payload` as a request body: an `EventBatch` or `EventError`, nothing else."""
    body = json.dumps(payload, allow_nan=True).encode()
    try:
        batch = source.parse(InboundRequest(headers={}, body=body, content_type="application/json"))
    except EventError:
        return None
    for event in batch.events:
        assert event.provider == source.name
        assert 0 < len(event.event_id) <= MAX_EVENT_ID
        assert "@" in event.recipient
        assert len(event.recipient) <= MAX_ADDRESS
        assert event.occurred_at.tzinfo is not None
    return batch
