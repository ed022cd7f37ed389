"""The event contract: normalised events, the order of finality, the registry, small readers."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from app.mail.delivery import (
    MAX_EVENT_ID,
    DeliveryEvent,
    EventKind,
    angle_id,
    epoch,
    iso_time,
    message_key,
    rank,
    same_message,
    sent_ids,
    state_key,
)
from app.mail.events import source_for, sources

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def event(
    kind: EventKind, *, hard: bool = False, at: datetime = T0, **values: object
) -> DeliveryEvent:
    fields: dict[str, object] = {
        "provider": "test",
        "event_id": "e1",
        "kind": kind,
        "hard": hard,
        "recipient": "Sara@Example.com ",
        "provider_message_id": " sg-1 ",
        "rfc_message_id": "reply.1@shop.test",
        "occurred_at": at,
        "reason": "  550   5.1.1\n no such user ",
    }
    fields.update(values)
    return DeliveryEvent(**fields)  # type: ignore[arg-type]


def test_an_event_is_normalised_once_whoever_built_it() -> None:
    found = event(EventKind.BOUNCED, hard=True, at=datetime(2026, 12, 6, 10, 0))  # noqa: DTZ001
    assert found.recipient == "sara@example.com"
    assert found.provider_message_id == "sg-1"
    assert found.rfc_message_id == "<reply.1@shop.test>"
    assert found.reason == "550 5.1.1 no such user"
    assert found.occurred_at == T0
    assert found.occurred_at.tzinfo is UTC
    assert found.suppresses


def test_only_a_bounce_can_be_hard_and_only_hard_bounces_and_complaints_suppress() -> None:
    assert not event(EventKind.DELIVERED, hard=True).hard
    assert not event(EventKind.BOUNCED, hard=False).suppresses
    assert not event(EventKind.DROPPED, hard=True).suppresses
    assert event(EventKind.SPAM_REPORT).suppresses


def test_an_overlong_event_id_becomes_a_stable_digest() -> None:
    long_id = "x" * (MAX_EVENT_ID + 1)
    first, again = (
        event(EventKind.DELIVERED, event_id=long_id),
        event(EventKind.DELIVERED, event_id=long_id),
    )
    assert first.event_id == again.event_id
    assert first.event_id.startswith("sha256:")
    assert len(first.event_id) <= MAX_EVENT_ID


@pytest.mark.parametrize(
    ("earlier", "later", "kept"),
    [
        # A delivery reported after a hard bounce does not undo it, whatever its time.
        ((EventKind.BOUNCED, True), (EventKind.DELIVERED, False), (EventKind.BOUNCED, True)),
        # A deferral reported late does not undo the delivery.
        ((EventKind.DELIVERED, False), (EventKind.DEFERRED, False), (EventKind.DELIVERED, False)),
        # A soft bounce, then a delivery: the provider retried and got through.
        ((EventKind.BOUNCED, False), (EventKind.DELIVERED, False), (EventKind.DELIVERED, False)),
        # Delivered, then reported as spam: the complaint is the last word.
        (
            (EventKind.DELIVERED, False),
            (EventKind.SPAM_REPORT, False),
            (EventKind.SPAM_REPORT, False),
        ),
        # Delivered, then a bounce came back: the bounce.
        ((EventKind.DELIVERED, False), (EventKind.BOUNCED, True), (EventKind.BOUNCED, True)),
    ],
)
def test_the_most_final_state_wins_in_either_order(
    earlier: tuple[EventKind, bool], later: tuple[EventKind, bool], kept: tuple[EventKind, bool]
) -> None:
    first = (*earlier, T0, "a")
    second = (*later, T0 + timedelta(minutes=5), "b")
    for order in ((first, second), (second, first)):
        best = max(order, key=lambda state: state_key(*state))
        assert best[:2] == kept


def test_within_one_state_the_newest_wins() -> None:
    older = (EventKind.DEFERRED, False, T0, "421 try later")
    newer = (EventKind.DEFERRED, False, T0 + timedelta(hours=1), "421 try later")
    assert state_key(*newer) > state_key(*older)


def test_every_state_has_a_rank_and_no_two_share_one() -> None:
    states = [(kind, hard) for kind in EventKind for hard in (False, True)]
    ranks = {(kind, hard and kind is EventKind.BOUNCED): rank(kind, hard) for kind, hard in states}
    assert len(set(ranks.values())) == len(ranks) == len(EventKind) + 1


def test_the_final_state_does_not_depend_on_arrival_order() -> None:
    states = [
        (EventKind.DEFERRED, False, T0, "421"),
        (EventKind.DELIVERED, False, T0 + timedelta(seconds=30), "250"),
        (EventKind.BOUNCED, False, T0 + timedelta(seconds=10), "452"),
        (EventKind.SPAM_REPORT, False, T0 + timedelta(days=1), ""),
    ]
    finals = set()
    for order in itertools.permutations(states):
        current = None
        for state in order:
            if current is None or state_key(*state) > state_key(*current):
                current = state
        finals.add(current)
    assert finals == {states[-1]}


def test_the_registry_finds_each_provider_by_its_module_name() -> None:
    assert {"sendgrid", "mailgun", "postmark"} <= set(sources())
    for name, source in sources().items():
        assert source.name == name
        assert source_for(name) is source
    assert source_for("nobody") is None


def test_an_event_names_the_send_by_the_id_it_returned_or_that_id_and_dotted_details() -> None:
    modern = "W86EgYT6SQKk0lRflfLRsA.recvd-7f6d9c4b5d-x2k8p-1-6B0F3C20-2.0"
    assert same_message(modern, "W86EgYT6SQKk0lRflfLRsA")
    assert message_key(modern) == message_key("W86EgYT6SQKk0lRflfLRsA") == "W86EgYT6SQKk0lRflfLRsA"
    legacy = "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"
    assert same_message(legacy, "14c5d75ce93.dfd.64b469")
    assert message_key(legacy) == message_key("14c5d75ce93.dfd.64b469")
    assert "14c5d75ce93.dfd.64b469" in sent_ids(legacy)
    assert legacy in sent_ids(legacy)
    assert not same_message(legacy, "14c5d75ce93.dfd.64b46")
    assert not same_message("W86EgYT6SQKk0lRflfLRsAx.recvd", "W86EgYT6SQKk0lRflfLRsA")


def test_the_small_readers() -> None:
    assert angle_id("<a@b>") == angle_id(" a@b ") == "<a@b>"
    assert angle_id("") is None
    assert angle_id(5) is None
    assert epoch("1796551200") == epoch(1796551200) == T0
    assert epoch(True) is None
    assert epoch("soon") is None
    assert epoch(float("nan")) is None
    assert iso_time("2026-12-06T05:00:00.1234567-05:00") == datetime(
        2026, 12, 6, 10, 0, 0, 123456, tzinfo=UTC
    )
    assert iso_time("2026-12-06T10:00:00") == T0
    assert iso_time("yesterday") is None
    assert iso_time(None) is None
