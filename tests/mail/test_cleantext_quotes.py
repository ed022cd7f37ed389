"""Quoted history per client and language, and new text written between or below quotes.

Every fixture is written here from the clients' documented formats (never copied from a public
test corpus): the new text must come out whole and nothing of the history may remain.
"""

from __future__ import annotations

import pytest

from app.mail.cleantext import clean_text, html_to_text

NEW = "Hi, my order #1001 has still not arrived. Can you check the tracking?"
OLD = "Thanks for your order! It ships within two working days."
OLD_TOO = "Your tracking number is DS-55-1001."


def text(body: str) -> str:
    return clean_text(text=body, html="")


def html(body: str) -> str:
    return clean_text(text="", html=body)


def assert_only_new(cleaned: str, new: str = NEW) -> None:
    assert cleaned == new
    assert "ships within" not in cleaned
    assert "DS-55-1001" not in cleaned


# --- top-posted replies, plain text, per client --------------------------------------------------

ADDRESS = "Demo Store Support <support@demo-store.example>"


@pytest.mark.parametrize(
    "history",
    [
        pytest.param(f"On Mon, 23 Nov 2026 at 09:14, {ADDRESS} wrote:\n\n> {OLD}\n", id="gmail"),
        pytest.param(
            f"On 23 Nov 2026, at 09:14, {ADDRESS} wrote:\n\n> {OLD}\n> {OLD_TOO}\n",
            id="apple-mail",
        ),
        pytest.param(
            f"On 11/23/2026 9:14 AM, Demo Store Support wrote:\n> {OLD}\n", id="thunderbird"
        ),
        pytest.param(
            f'On Nov 23, 2026 9:14 AM, "Demo Store" <support@demo-store.example> wrote:\n\n'
            f"> {OLD}\n",
            id="android-gmail",
        ),
        pytest.param(
            "On Monday, November 23, 2026, 09:14:02 AM GMT+1, Demo Store Support "
            f"<support@demo-store.example> wrote:\n\n\n{OLD}\n{OLD_TOO}\n",
            id="yahoo-unquoted",
        ),
        pytest.param(
            "-----Original Message-----\n"
            f"From: {ADDRESS}\nSent: Monday, November 23, 2026 9:14 AM\n"
            f"To: Tom Baker <tom@example.co.uk>\nSubject: Your order #1001\n\n{OLD}\n{OLD_TOO}\n",
            id="outlook-desktop-separator",
        ),
        pytest.param(
            f"From: {ADDRESS}\nSent: Monday, November 23, 2026 9:14 AM\n"
            f"To: Tom Baker <tom@example.co.uk>\nSubject: RE: Your order #1001\n\n{OLD}\n",
            id="outlook-header-block",
        ),
        pytest.param(
            f"*From:* {ADDRESS}\n*Sent:* Monday, November 23, 2026 9:14 AM\n"
            f"*To:* tom@example.co.uk\n*Subject:* Your order\n\n{OLD}\n",
            id="outlook-bold-headers",
        ),
        pytest.param(
            "________________________________\n"
            f"From: {ADDRESS}\nSent: Monday, November 23, 2026 9:14\nTo: Tom Baker\n"
            f"Subject: Your order\n\n{OLD}\n",
            id="outlook-web-rule",
        ),
        pytest.param(
            "----- Original Message -----\n"
            f"From: {ADDRESS}\nTo: tom@example.co.uk\nSent: Monday, November 23, 2026 9:14 AM\n"
            f"Subject: Your order\n\n{OLD}\n",
            id="yahoo-classic",
        ),
        pytest.param(
            "-------- Original Message --------\n"
            f"Subject:\tYour order\nDate:\tMon, 23 Nov 2026 09:14:00 +0100\nFrom:\t{ADDRESS}\n"
            f"To:\ttom@example.co.uk\n\n{OLD}\n",
            id="thunderbird-forward-table",
        ),
        pytest.param(
            f'23.11.2026, 09:14, "Demo Store" <support@demo-store.example>:\n> {OLD}\n',
            id="yandex",
        ),
        pytest.param(
            f"Понедельник, 23 ноября 2026, 9:14 +03:00 от {ADDRESS}:\n\n> {OLD}\n",
            id="mail-ru",
        ),
        pytest.param(
            f"23.11.2026 9:14 пользователь {ADDRESS} написал:\n\n> {OLD}\n", id="android-ru"
        ),
        pytest.param(
            f"Понедельник, 23 ноября 2026 г. в 9:14, {ADDRESS} пишет:\n{OLD}\n",
            id="russian-pishet-unquoted",
        ),
        pytest.param(
            "-------- Исходное сообщение --------\n"
            f"От: {ADDRESS}\nДата: 23.11.2026 9:14\nТема: Заказ\n\n{OLD}\n",
            id="russian-separator",
        ),
    ],
)
def test_history_below_a_top_posted_reply_is_dropped(history: str) -> None:
    assert_only_new(text(f"{NEW}\n\n{history}"))


@pytest.mark.parametrize(
    ("new", "history"),
    [
        pytest.param(
            "Wo bleibt meine Bestellung #1001?",
            f"Am Mo., 23. Nov. 2026 um 09:14 Uhr schrieb {ADDRESS}:\n\n> {OLD}\n",
            id="de-gmail",
        ),
        pytest.param(
            "Wo bleibt meine Bestellung #1001?",
            "Am 23.11.2026 um 09:14 schrieb Demo Store Support\n<support@demo-store.example>:\n"
            f"{OLD}\n",
            id="de-wrapped-unquoted",
        ),
        pytest.param(
            "Wo bleibt meine Bestellung #1001?",
            f"Von: {ADDRESS}\nGesendet: Montag, 23. November 2026 09:14\nAn: tom@example.de\n"
            f"Betreff: Ihre Bestellung\n\n{OLD}\n",
            id="de-outlook",
        ),
        pytest.param(
            "Où en est ma commande n° 1001 ?",
            f"Le lun. 23 nov. 2026 à 09:14, {ADDRESS} a écrit :\n\n> {OLD}\n",
            id="fr-gmail",
        ),
        pytest.param(
            "Où en est ma commande n° 1001 ?",
            f"De : {ADDRESS}\nEnvoyé : lundi 23 novembre 2026 09:14\nÀ : tom@example.fr\n"
            f"Objet : Votre commande\n\n{OLD}\n",
            id="fr-outlook",
        ),
        pytest.param(
            "¿Dónde está mi pedido #1001?",
            f"El lun, 23 nov 2026 a las 9:14, {ADDRESS} escribió:\n\n> {OLD}\n",
            id="es-gmail",
        ),
        pytest.param(
            "¿Dónde está mi pedido #1001?",
            f"De: {ADDRESS}\nEnviado: lunes, 23 de noviembre de 2026 9:14\nPara: tom@example.es\n"
            f"Asunto: Su pedido\n\n{OLD}\n",
            id="es-outlook",
        ),
        pytest.param(
            "سفارش ۱۰۰۱ من کجاست؟",
            f"در تاریخ دوشنبه ۲۳ نوامبر ۲۰۲۶، ۹:۱۴ {ADDRESS} نوشت:\n\n> {OLD}\n",
            id="fa-gmail",
        ),
        pytest.param(
            "سفارش ۱۰۰۱ من کجاست؟",
            f"از: {ADDRESS}\nارسال شده: دوشنبه ۲۳ نوامبر ۲۰۲۶\nبه: tom@example.ir\n"
            f"موضوع: سفارش شما\n\n{OLD}\n",
            id="fa-outlook",
        ),
        pytest.param(
            "أين طلبي رقم 1001؟",
            f"في الاثنين، 23 نوفمبر 2026 9:14 ص، كتب {ADDRESS}:\n\n> {OLD}\n",
            id="ar-gmail",
        ),
        pytest.param(
            "Dov'è il mio ordine #1001?",
            f"Il giorno lun 23 nov 2026 alle ore 09:14 {ADDRESS} ha scritto:\n\n> {OLD}\n",
            id="it-gmail",
        ),
        pytest.param(
            "Waar blijft mijn bestelling #1001?",
            f"Op ma 23 nov 2026 om 09:14 schreef {ADDRESS}:\n\n> {OLD}\n",
            id="nl-gmail",
        ),
        pytest.param(
            "Onde está o meu pedido #1001?",
            f"Em seg., 23 de nov. de 2026 às 09:14, {ADDRESS} escreveu:\n\n> {OLD}\n",
            id="pt-gmail",
        ),
    ],
)
def test_history_in_other_languages_is_dropped(new: str, history: str) -> None:
    assert_only_new(text(f"{new}\n\n{history}"), new)


# --- inline and bottom-posted replies ----------------------------------------------------------


def test_an_inline_reply_below_an_attribution_keeps_every_answer() -> None:
    body = (
        "Hi,\n\n"
        f"On Mon, 23 Nov 2026 at 09:14, {ADDRESS} wrote:\n"
        "> Which size would you like?\n"
        "M please, the blue one.\n"
        ">\n> And should we ship to the same address?\n\n"
        "No, to my office: 12 High Street, Leeds.\n"
        "> Anything else?\n"
    )

    cleaned = text(body)
    assert cleaned == ("Hi,\n\nM please, the blue one.\n\nNo, to my office: 12 High Street, Leeds.")


def test_a_bottom_posted_reply_keeps_the_text_below_the_quote() -> None:
    body = f"On 11/23/2026 9:14 AM, Demo Store Support wrote:\n> {OLD}\n\n{NEW}\n"

    assert_only_new(text(body))


def test_a_bottom_posted_reply_loses_only_its_signature() -> None:
    body = f"> {OLD}\n\n{NEW}\n\n-- \nTom Baker\n"

    assert_only_new(text(body))


def test_a_quote_without_attribution_between_two_paragraphs_keeps_both() -> None:
    body = f"About this:\n> {OLD}\nIt did not ship. {NEW}\n"

    assert text(body) == f"About this:\n\nIt did not ship. {NEW}"


def test_a_forward_without_comment_is_kept() -> None:
    # Nothing new above the header block: what it forwards is all the customer sent.
    body = f"From: {ADDRESS}\nSent: Monday, November 23, 2026\nSubject: Order\n\n{OLD}\n"

    assert OLD in text(body)


def test_a_line_that_merely_says_someone_wrote_is_kept() -> None:
    body = f"{NEW}\n\nMy husband wrote:\nplease also add a gift note.\n"

    assert text(body) == body.strip()


def test_a_dashed_heading_of_the_customer_is_kept() -> None:
    body = f"{NEW}\n\n---- Items ----\nblue jacket, size M\n"

    assert text(body) == body.strip()


def test_a_rule_not_followed_by_headers_keeps_the_text_below() -> None:
    body = f"{NEW}\n\n________________________________\nI also want to return the scarf.\n"

    assert "return the scarf" in text(body)


# --- signatures --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sign_off",
    [
        "-- \nTom Baker\nBaker & Sons",
        "Sent from my iPhone",
        "Sent from my Samsung Galaxy smartphone",
        "Get Outlook for Android",
        "Best regards,\nTom Baker",
        "Tom Baker\ntom@example.co.uk\n+44 20 7946 0000",
    ],
)
def test_a_sign_off_above_the_quote_is_dropped(sign_off: str) -> None:
    body = f"{NEW}\n\n{sign_off}\n\nOn Mon, 23 Nov 2026 at 09:14, {ADDRESS} wrote:\n> {OLD}\n"

    assert_only_new(text(body))


def test_a_sign_off_word_starting_an_inline_answer_is_kept() -> None:
    body = "> Shall we refund or replace it?\nThanks, please replace it with size M.\n"

    assert text(body) == "Thanks, please replace it with size M."


# --- HTML-only mail ------------------------------------------------------------------------------


def test_html_blockquote_without_a_client_class_is_dropped_with_its_attribution() -> None:
    page = (
        f"<p>{NEW}</p><p>23.11.2026, 09:14, &quot;Demo Store&quot; "
        f"&lt;support@demo-store.example&gt;:</p><blockquote>{OLD}</blockquote>"
    )

    assert_only_new(html(page))


def test_html_inline_reply_between_blockquotes_is_kept() -> None:
    page = (
        '<div>Hi,</div><div class="gmail_quote"><div class="gmail_attr">On Mon, 23 Nov 2026'
        f" at 09:14, {ADDRESS} wrote:</div>"
        '<blockquote class="gmail_quote">Which size would you like?</blockquote>'
        "<div>M please.</div>"
        '<blockquote class="gmail_quote">And which colour?</blockquote>'
        "<div>Blue.</div></div>"
    )

    cleaned = html(page)
    assert cleaned == "Hi,\n\nM please.\n\nBlue."


def test_html_hr_before_a_header_block_ends_the_reply() -> None:
    page = (
        f"<div>{NEW}<hr><b>From:</b> {ADDRESS.replace('<', '&lt;').replace('>', '&gt;')}<br>"
        "<b>Sent:</b> Monday, November 23, 2026<br><b>To:</b> tom@example.co.uk<br>"
        f"<b>Subject:</b> Your order<br><br><p>{OLD}</p></div>"
    )

    assert_only_new(html(page))


def test_windows_mail_header_block_in_russian_ends_the_reply() -> None:
    page = (
        f"<div>{NEW}</div><div style='border-top:1px solid'><b>От:</b>&nbsp;Demo Store<br>"
        "<b>Отправлено:</b>&nbsp;понедельник, 23 ноября 2026 г. 9:14<br>"
        f"<b>Кому:</b>&nbsp;Tom</div><div>{OLD}</div>"
    )

    assert_only_new(html(page))


def test_html_to_text_marks_quotes_and_rules() -> None:
    converted = html_to_text(f"<p>{NEW}</p><hr><blockquote><p>{OLD}</p></blockquote>")

    lines = [line.strip() for line in converted.split("\n")]
    assert OLD not in converted
    assert ">" in lines
    assert "_" * 32 in lines
