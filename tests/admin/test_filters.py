"""The words staff filter by and read: one enum, covering every stored status."""

from __future__ import annotations

from collections import Counter

from app.admin.filters import QueueFilter, word_label
from app.db.statuses import MessageStatus


def test_every_stored_message_status_is_in_exactly_one_queue_filter() -> None:
    covered = Counter(status for word in QueueFilter for status in word.statuses)
    assert covered == Counter(set(MessageStatus))
    # `failed` is the one filter about the replies rather than the email's own status.
    assert [word for word in QueueFilter if not word.statuses] == [QueueFilter.FAILED]


def test_every_filter_has_a_label_and_a_meaning() -> None:
    for word in QueueFilter:
        assert word.meaning
        assert word.label == word_label(word.value)
    assert QueueFilter.NEEDS_HUMAN.label == "needs human"
