"""The commitments detector: the model's paragraph may not promise actions, days or amounts.

Each language gets the same table: every kind of action stated as done or to come, promised days
and durations, amounts; and ordinary sentences a model writes that must pass.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.replies.commitment_words import WORDS, ActionKind
from app.replies.commitments import REASON, Commitment, find_commitments

REFUND = ActionKind.REFUND.value
CANCELLATION = ActionKind.CANCELLATION.value
REPLACEMENT = ActionKind.REPLACEMENT.value
DISCOUNT = ActionKind.DISCOUNT.value
ADDRESS = ActionKind.ADDRESS_CHANGE.value
RETURN = ActionKind.RETURN_APPROVAL.value

ACTIONS: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("We have approved your refund.", REFUND),
        ("You will be refunded in full.", REFUND),
        ("Your order has been cancelled.", CANCELLATION),
        ("We'll cancel the order for you.", CANCELLATION),
        ("A replacement has been sent.", REPLACEMENT),
        ("We will send you a replacement.", REPLACEMENT),
        ("You get a discount on your next order, guaranteed.", DISCOUNT),
        ("We have updated your shipping address.", ADDRESS),
        ("Your return has been approved.", RETURN),
    ],
    "fa": [
        ("بازپرداخت شما تایید شد.", REFUND),
        ("پول شما واریز خواهد شد.", REFUND),
        ("سفارش شما لغو شد.", CANCELLATION),
        ("سفارش را لغو خواهیم کرد.", CANCELLATION),
        ("بسته جایگزین برای شما ارسال خواهد شد.", REPLACEMENT),
        ("یک کد تخفیف برای شما فعال شد.", DISCOUNT),
        ("آدرس شما را تغییر دادیم.", ADDRESS),
        ("مرجوعی شما تایید شد.", RETURN),
    ],
    "es": [
        ("Hemos aprobado su reembolso.", REFUND),
        ("Le reembolsaremos el importe.", REFUND),
        ("Su pedido ha sido cancelado.", CANCELLATION),
        ("Le enviaremos un reemplazo.", REPLACEMENT),
        ("Le daremos un descuento.", DISCOUNT),
        ("Hemos cambiado su dirección de envío.", ADDRESS),
        ("Su devolución ha sido aprobada.", RETURN),
    ],
    "de": [
        ("Ihre Erstattung wurde genehmigt.", REFUND),
        ("Der Betrag wird Ihnen erstattet.", REFUND),
        ("Ihre Bestellung wurde storniert.", CANCELLATION),
        ("Wir senden Ihnen einen Ersatz.", REPLACEMENT),
        ("Sie erhalten einen Rabatt.", DISCOUNT),
        ("Wir haben Ihre Lieferadresse geändert.", ADDRESS),
        ("Ihre Rücksendung wurde genehmigt.", RETURN),
    ],
    "fr": [
        ("Nous avons approuvé votre remboursement.", REFUND),
        ("Vous serez remboursée sous peu.", REFUND),
        ("Votre commande a été annulée.", CANCELLATION),
        ("Nous vous enverrons un remplacement.", REPLACEMENT),
        ("Vous recevrez une remise.", DISCOUNT),
        ("Nous avons modifié votre adresse.", ADDRESS),
        ("Votre retour a été accepté.", RETURN),
    ],
}

DAYS: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("It will arrive tomorrow.", "date"),
        ("You will have it by 21 November.", "date"),
        ("Expect it on 2026-11-21.", "date"),
        ("It reaches you within 3 business days.", "duration"),
        ("It takes a few days.", "duration"),
    ],
    "fa": [
        ("فردا به دستتان می‌رسد.", "date"),
        ("تا ۲۰۲۶/۱۱/۲۱ می‌رسد.", "date"),
        ("ظرف ۳ روز کاری می‌رسد.", "duration"),
        ("طی چند روز به دستتان می‌رسد.", "duration"),
    ],
    "es": [
        ("Llegará mañana.", "date"),
        ("Lo recibirá el 21 de noviembre.", "date"),
        ("Llega en 3 días hábiles.", "duration"),
        ("Tardará unas semanas.", "duration"),
    ],
    "de": [
        ("Das Paket kommt übermorgen an.", "date"),
        ("Sie erhalten es am 21. November.", "date"),
        ("Es dauert drei Werktage.", "duration"),
        ("Das Geld ist in 5 Tagen auf Ihrem Konto.", "duration"),
    ],
    "fr": [
        ("Vous le recevrez demain.", "date"),
        ("Il arrivera le 21 novembre.", "date"),
        ("Comptez 3 jours ouvrables.", "duration"),
        ("Cela prend quelques semaines.", "duration"),
    ],
}

AMOUNTS: dict[str, list[str]] = {
    "en": ["That makes 5000 EUR.", "You paid $49.99.", "It costs 20 euros."],
    "fa": ["مبلغ ۵۰۰۰ یورو است.", "هزینه ۲۰۰ هزار تومان است."],
    "es": ["Son 5000 EUR.", "Cuesta 20 euros."],
    "de": ["Das sind 5000 EUR.", "Es kostet 20 Euro."],
    "fr": ["Cela fait 5000 €.", "Cela coûte 20 euros."],
}

FIVE_THOUSAND = {
    "en": "We have approved your refund of 5000 EUR; it will reach your card within 3 days.",
    "fa": "بازپرداخت ۵۰۰۰ یورو شما را تایید کردیم؛ ظرف ۳ روز به کارت شما واریز می‌شود.",
    "es": "Hemos aprobado su reembolso de 5000 EUR; llegará a su tarjeta en 3 días.",
    "de": "Wir haben Ihre Erstattung von 5000 EUR genehmigt; sie ist in 3 Tagen auf Ihrer Karte.",
    "fr": "Nous avons approuvé votre remboursement de 5000 EUR ; il arrivera sous 3 jours.",
}
"""The issue's example in every language: a refund, an amount and a duration, all promised."""

NEUTRAL: dict[str, list[str]] = {
    "en": [
        "Thank you for your patience!",
        "We will look into it.",
        "A colleague will get back to you shortly.",
        "Your order #1001 is on its way.",
        "We have received your refund request and a colleague will reply.",
        "If you would like a refund, just reply to this email.",
        "Please tell us the correct address.",
        "Thank you for shopping with us, have a nice day!",
    ],
    "fa": [
        "از صبر شما سپاسگزاریم.",
        "سفارش شما در راه است.",
        "به زودی یکی از همکاران پاسخ خواهد داد.",
        "درخواست بازپرداخت شما را دریافت کردیم.",
    ],
    "es": [
        "Gracias por su paciencia.",
        "Un compañero le responderá pronto.",
        "Hemos recibido su solicitud de reembolso.",
        "Por la mañana revisamos los pedidos.",
    ],
    "de": [
        "Vielen Dank für Ihre Geduld.",
        "Guten Morgen! Wir kümmern uns darum.",
        "Eine Kollegin meldet sich bei Ihnen.",
    ],
    "fr": [
        "Merci pour votre patience, Sara.",
        "Un collègue vous répondra rapidement.",
        "Nous avons bien reçu votre demande de remboursement.",
    ],
}


def kinds(paragraph: str) -> set[str]:
    return {commitment.kind for commitment in find_commitments(paragraph)}


def cases(table: dict[str, list[tuple[str, str]]]) -> list[tuple[str, str]]:
    return [case for rows in table.values() for case in rows]


def test_every_shipped_language_has_words_and_a_test_table() -> None:
    assert set(WORDS) == set(ACTIONS) == set(DAYS) == set(AMOUNTS) == set(NEUTRAL)
    assert set(WORDS) == set(FIVE_THOUSAND)
    for table in WORDS.values():
        assert set(table.actions) == set(ActionKind)


@pytest.mark.parametrize("language", sorted(ACTIONS))
def test_each_language_covers_every_kind_of_action(language: str) -> None:
    assert {kind for _, kind in ACTIONS[language]} == {k.value for k in ActionKind}


@pytest.mark.parametrize(("paragraph", "kind"), cases(ACTIONS))
def test_an_action_stated_as_taken_or_to_come_is_a_commitment(paragraph: str, kind: str) -> None:
    assert kind in kinds(paragraph)


@pytest.mark.parametrize(("paragraph", "kind"), cases(DAYS))
def test_a_promised_day_or_duration_is_a_commitment(paragraph: str, kind: str) -> None:
    assert kind in kinds(paragraph)


@pytest.mark.parametrize("paragraph", [a for rows in AMOUNTS.values() for a in rows])
def test_an_amount_of_money_is_a_commitment(paragraph: str) -> None:
    assert "amount" in kinds(paragraph)


@pytest.mark.parametrize("language", sorted(FIVE_THOUSAND))
def test_the_issues_example_is_caught_in_every_language(language: str) -> None:
    assert {REFUND, "duration", "amount"} <= kinds(FIVE_THOUSAND[language])


@pytest.mark.parametrize("paragraph", [n for rows in NEUTRAL.values() for n in rows])
def test_ordinary_sentences_are_not_commitments(paragraph: str) -> None:
    assert find_commitments(paragraph) == []


def test_the_problem_names_the_kind_and_the_words() -> None:
    [commitment] = find_commitments("Your return has been approved.")

    assert commitment == Commitment(RETURN, ("return", "has been"))
    assert commitment.problem() == "commitment in free text: return approval (return, has been)"


def test_an_empty_paragraph_commits_to_nothing() -> None:
    assert find_commitments("") == find_commitments("  \n ") == []


def test_a_commitment_is_found_in_any_sentence_of_the_paragraph() -> None:
    paragraph = "Thank you for writing. Your order is on its way! We will refund the shipping."

    assert kinds(paragraph) == {REFUND}


# --- Properties ----------------------------------------------------------------------------

_NEUTRAL = [n for rows in NEUTRAL.values() for n in rows]
_COMMITTING = [p for p, _ in cases(ACTIONS)] + [p for p, _ in cases(DAYS)]


@given(st.text(max_size=300))
def test_any_text_gives_well_formed_problems(text: str) -> None:
    for commitment in find_commitments(text):
        assert commitment.problem().startswith(f"{REASON}: {commitment.kind} (")
        assert all(word.strip() for word in commitment.words)


@given(st.lists(st.sampled_from(_NEUTRAL), max_size=6))
def test_ordinary_sentences_together_still_commit_to_nothing(sentences: list[str]) -> None:
    assert find_commitments(" ".join(sentences)) == []


@given(
    st.lists(st.sampled_from(_NEUTRAL), max_size=4),
    st.sampled_from(_COMMITTING),
    st.lists(st.sampled_from(_NEUTRAL), max_size=4),
)
def test_a_commitment_among_ordinary_sentences_is_still_found(
    before: list[str], committing: str, after: list[str]
) -> None:
    alone = kinds(committing)
    surrounded = kinds(" ".join([*before, committing, *after]))

    assert alone
    assert alone <= surrounded
