"""The offline model's keyword tables: what each intent sounds like, per catalog language.

Data only; `reading.py` applies it. Every pattern is a regular expression matched on the
lower-cased subject and cleaned text. All languages' patterns are tried on every email, because
customers mix them ("order #1001 من کی میرسه؟"), so a table's language is where to add a phrase,
not a filter. An intent scores one point per pattern that matches, and a pattern that matches the
subject scores again (the subject names what the email is about); the highest score wins, and
ties go to the intent listed first.
"""

from __future__ import annotations

from app.agent.plan import Intent

Table = dict[str, tuple[str, ...]]
"""Patterns by catalog language (`en`, `fa`, `de`, `es`, `fr`)."""

INTENT_KEYWORDS: dict[Intent, Table] = {
    Intent.HUMAN_REQUESTED: {
        "en": (
            r"\b(?:speak|talk) (?:to|with) (?:a |an )?(?:human|person|agent|manager|someone)",
            r"\b(?:real|actual) (?:human|person)\b",
            r"\bhuman being\b",
            r"\b(?:chat)?bots?\b",
            r"\bcall me\b",
            r"\bgive me a (?:ring|call)\b",
            r"\bget back to me personally\b",
            r"\bsomeone from (?:the|your) team\b",
            r"\bautomatic (?:answer|reply|response)",
        ),
        "fa": (
            r"با (?:یک |یکی از )?(?:انسان|اپراتور|کارشناس|پشتیبان)",
            r"ربات",
            r"تماس بگیرید",
            r"یکی از همکاران",
            r"شخصاً|شخصا",
            r"جواب(?:\u200c| )?های خودکار",
        ),
        "de": (
            r"\bmit (?:einem|einer) (?:menschen|mitarbeiter(?:in)?|person)\b",
            r"\brückruf\b",
            r"\b(?:zurück)?rufen sie mich\b",
        ),
        "es": (
            r"\bhablar con (?:una persona|alguien|un agente|un humano)\b",
            r"\bme pod[eé]is llamar\b|\bllamadme\b",
            r"\bpersona de verdad\b",
            r"\brobot\b",
        ),
        "fr": (
            r"\bparler (?:à|avec) (?:un |une )?(?:conseill|personne|humain|quelqu)",
            r"\b(?:être|me) rappel",
        ),
    },
    Intent.CANCEL_ORDER: {
        "en": (
            r"\bcancel(?!l?ed\b)",
            r"\b(?:get|have|want|like) (?:it|this|that|my order|the order) cancell?ed\b",
        ),
        "fa": (r"(?:لغو|کنسل)(?! ?(?:کردم|شد|شده))",),
        "de": (r"\bstornier",),
        "es": (r"\bcancelar\b", r"\banular\b"),
        "fr": (r"\bannuler\b", r"\bannulation\b"),
    },
    Intent.CHANGE_ADDRESS: {
        "en": (
            r"\b(?:change|update|correct)\b.{0,30}(?<!e-mail )(?<!email )\baddress\b",
            r"\bwrong (?:shipping |delivery )?address on\b",
            r"\bnew (?:shipping |delivery )?address\b",
            r"\b(?:ship|send|deliver)\b.{0,20}\bto my (?:office|work|new)\b",
        ),
        "fa": (r"تغییر آدرس", r"آدرس.{0,20}(?:عوض|اشتباه)"),
        "de": (
            r"\badresse\b.{0,40}\b(?:ändern|korrigieren)\b",
            r"\b(?:ändern|korrigieren)\b.{0,40}\badresse\b",
            r"\bneue (?:liefer)?adresse\b",
        ),
        "es": (
            r"\bcambiar (?:la )?direcci[oó]n\b",
            r"\bcambiar\b.{0,30}\bdirecci[oó]n\b",
            r"\bnueva direcci[oó]n\b",
        ),
        "fr": (
            r"\b(?:changer|modifier|corriger)\b.{0,20}\badresse\b",
            r"\bchangement d'adresse\b",
            r"\bnouvelle adresse\b",
        ),
    },
    Intent.REFUND: {
        "en": (r"\brefund", r"\bmoney back\b", r"\breimburs"),
        "fa": (r"بازپرداخت", r"استرداد", r"پول.{0,15}(?:برگرد|برگشت|برنگشت|پس)"),
        "de": (r"\b(?:rück)?erstattung\b", r"\bgeld\b.{0,30}\bzurück"),
        "es": (r"\breembols",),
        "fr": (r"\brembours",),
    },
    Intent.RETURN_OR_EXCHANGE: {
        "en": (
            r"\breturn(?!ed to sender)",
            r"\bexchange\b",
            r"\bsend (?:it |them )?back\b",
            r"\btoo (?:small|big|large|tight)\b",
            r"\bdoes(?:n't| not) fit\b",
        ),
        "fa": (r"مرجوع", r"تعویض", r"برگردان", r"عوض کنم"),
        "de": (r"\bzurückschicken\b", r"\bumtausch", r"\brücksendung\b", r"\bzu (?:klein|groß)\b"),
        "es": (r"\bdevolver\b", r"\bdevoluci[oó]n\b", r"\bcambiarl[oa]s?\b"),
        "fr": (r"\bretourner\b", r"\bretour\b", r"\béchang(?:e|er)\b", r"\brenvoyer\b"),
    },
    Intent.SHIPPING_PROBLEM: {
        "en": (
            r"\bdamaged\b",
            r"\bbroken\b",
            r"\bnever (?:arrived|came|received)\b",
            r"\bnot (?:yet )?(?:arrived|received)\b",
            r"\b(?:lost|stuck)\b",
            r"\bdelayed\b",
            r"\blate\b",
            r"\bwrong (?:item|size|colou?r|product|parcel|package)\b",
            r"\bdelivered to (?:the |a )?wrong\b",
            r"\bdelivered but\b",
            r"\b(?:item|parcel|number) not found\b",
            r"\bhas not moved\b|\bhasn't moved\b",
        ),
        "fa": (
            r"نرسیده",
            r"آسیب",
            r"خراب",
            r"گم شده",
            r"تاخیر|تأخیر",
            r"گیر کرده",
            r"پیدا نشد",
            r"کار نمی(?:\u200c| )?کن",
            r"پاره",
        ),
        "de": (r"\bbeschädigt\b", r"\bnoch nicht angekommen\b", r"\bnie angekommen\b"),
        "es": (
            r"\bdañad[oa]s?\b",
            r"\bequivocad[oa]\b",
            r"\bde otra talla\b",
            r"\bno (?:ha )?llegado\b",
        ),
        "fr": (
            r"\b(?:abîmée?s?|endommagée?s?)(?!\w)",
            r"\bjamais re[çc]u\b",
            r"\bpas re[çc]u (?:le|mon) colis\b",
        ),
    },
    Intent.ORDER_STATUS: {
        "en": (
            r"\bwhere(?: is|'s|s) my (?:order|parcel|package)\b",
            r"\border status\b",
            r"\bstatus of (?:my |the |this )?order\b",
            r"\bwhere is (?:my |the )?order\b",
            r"\bwhe?re? is my ordr?\b",
            r"\btrack(?:ing)?\b",
            r"\bshipped\b",
            r"\bwhen will\b.{0,40}\b(?:arrive|ship|come)\b",
            r"\bwhen (?:it|he|she)'?ll get\b",
            r"\bcoming today\b",
            r"\bdelivery date\b",
            r"\bshipping confirmation\b",
            r"\bsent out\b",
            r"\bon hold\b",
            r"\bseparate parcel\b",
        ),
        "fa": (
            r"کجاست",
            r"وضعیت",
            r"پیگیری",
            r"کد رهگیری",
            r"کی (?:می‌رسد|میرسد|می‌رسه|میرسه|ارسال)",
        ),
        "de": (
            r"\bwo (?:ist|bleibt) meine bestellung\b",
            r"\bsendungsverfolgung\b",
            r"\bkommt\b.{0,30}\ban\b",
        ),
        "es": (r"\bd[oó]nde est[aá] mi pedido\b", r"\ben qu[eé] estado\b", r"\bseguimiento\b"),
        "fr": (r"\bo[uù] (?:est|en est) ma comm?ande\b", r"\bsuivi\b"),
    },
    Intent.BILLING: {
        "en": (
            r"\binvoice\b",
            r"\bcharged twice\b",
            r"\bdouble charge",
            r"\btwo payments\b",
            r"\bpayment (?:failed|was declined|declined)\b",
            r"\breceipt\b",
            r"(?<!import )\bvat\b",
            r"\bbilling\b",
        ),
        "fa": (
            r"فاکتور",
            r"دو بار.{0,20}(?:پرداخت|کسر|کم)",
            r"از (?:کارت|حساب)م? ?(?:کم|کسر) (?:شده|شد)",
        ),
        "de": (r"\brechnung\b", r"\bdoppelt (?:abgebucht|belastet)\b"),
        "es": (r"\bfactura\b", r"\bcobrado dos veces\b", r"\bcargo duplicado\b"),
        "fr": (r"\bfacture\b", r"\bdébité deux fois\b"),
    },
    Intent.STOCK_OR_PRICE: {
        "en": (
            r"\b(?:back )?in stock\b",
            r"\bbe back\b",
            r"\bavailable\b",
            r"\bprice\b",
            r"\bhow much\b",
            r"\bdiscount\b",
        ),
        "fa": (r"موجود", r"قیمت", r"تخفیف"),
        "de": (
            r"\bauf lager\b",
            r"\b(?:wieder )?(?:lieferbar|verfügbar)\b",
            r"\bpreis\b",
            r"\bkostet\b",
        ),
        "es": (r"\bprecio\b", r"\bcuesta\b", r"\bdisponibles?\b"),
        "fr": (r"\bprix\b", r"\bco[uû]tent?\b", r"\bdisponibles?\b"),
    },
    Intent.PRODUCT_QUESTION: {
        "en": (
            r"\bsizes?\b",
            r"\bsizing\b",
            r"\btrue to size\b",
            r"\bmaterial\b",
            r"\bcolou?r\b",
            r"\bmade of\b",
            r"\bwash(?:able|ing)?\b",
            r"\bitchy\b",
            r"\bon the website\b",
        ),
        "fa": (r"سایز", r"جنس", r"رنگ", r"کتان"),
        "de": (r"\bgrößen?\b", r"\bfarbe\b", r"\bfällt\b.{0,20}\baus\b", r"\bmaterial\b"),
        "es": (r"\btallas?\b", r"\bmaterial\b", r"\blavar\b"),
        "fr": (r"\btaille\b", r"\bcouleur\b", r"\bexiste\b", r"\bmatière\b"),
    },
    Intent.COMPLAINT: {
        "en": (
            r"\bterrible\b",
            r"\bunacceptable\b",
            r"\bworst\b",
            r"\bdisappointed\b",
            r"\bcomplain",
            r"\bfrustrat",
            r"\bembarrassing\b",
            r"\bfed up\b",
            r"\bnobody (?:answers|replies)\b",
            r"\b(?:bad|awful|horrible|poor) (?:experience|service)\b",
        ),
        "fa": (
            r"افتضاح",
            r"بدترین",
            r"ناراضی",
            r"شکایت",
            r"ناامید",
            r"پاسخگو نیست",
            r"هیچ جوابی",
            r"تجربه(?:\u200cی| ی)? بد",
        ),
        "de": (r"\benttäuscht\b", r"\bfrechheit\b", r"\bbeschwerde\b", r"\bunzumutbar\b"),
        "es": (r"\binaceptable\b", r"\bdecepcionad[oa]\b", r"\bqueja\b"),
        "fr": (
            r"\binacceptable\b",
            r"\bdéçue?\b",
            r"\bpersonne ne (?:me )?répond\b",
            r"\bplainte\b",
        ),
    },
    Intent.PRAISE_OR_FEEDBACK: {
        "en": (
            r"\bthank you so much\b",
            r"\bi love (?:it|the|my)\b",
            r"\bamazing\b",
            r"\bgreat (?:service|quality)\b",
            r"\bfeedback\b",
            r"\bsuggestion\b",
            r"\b(?:will|would) (?:definitely )?order again\b",
            r"\bbeautifully packed\b",
        ),
        "fa": (r"عالی", r"راضی هستم", r"ممنونم", r"دست(?:تون|تان|ت) درد نکنه", r"پیشنهاد"),
        "de": (r"\bvielen dank für\b", r"\bmacht weiter so\b", r"\b(?:ist|war) super\b"),
        "es": (r"\bdaros las gracias\b", r"\bme encanta\b", r"\bprecios[oa]\b"),
        "fr": (r"\bmerci pour (?:la|le|votre)\b", r"\bj'adore\b", r"\bravie?\b"),
    },
    Intent.SPAM_OR_IRRELEVANT: {
        "en": (
            r"\bseo\b",
            r"\bbacklinks?\b",
            r"\bguest post\b",
            r"\bcrypto",
            r"\binvestment opportunit",
            r"\blottery\b",
            r"\bmarketing services\b",
            r"\bwebsite redesign\b",
            r"\bfirst page of google\b",
            r"\brank(?:ing)? (?:on|in) google\b",
            r"\bdo-?follow\b",
            r"\bsponsored (?:post|article|content)\b",
            r"\bfollowers\b",
            r"\bdevelopers\b",
            r"\bportfolio\b",
            r"\bdear merchant\b",
            r"\bwill be suspended\b",
            r"\bslides\b",
            r"\bmeeting\b",
        ),
        "fa": (r"فالوور", r"لایک", r"اینستاگرام", r"ارز دیجیتال", r"سرمایه(?:\u200c| )?گذاری"),
        "de": (r"\bkooperationsanfrage\b", r"\bfollower\b", r"\bsuchmaschinenoptimierung\b"),
        "es": (r"\bposicionamiento\b", r"\bprimera página de google\b"),
        "fr": (r"\bréférencement\b", r"\bpremière page de google\b", r"\bnetlinking\b"),
    },
}
"""Intents in order of strength: on a tie the one listed first wins."""

ALWAYS_STAFF = frozenset({Intent.BILLING})
"""Intents no tool can settle (payments and invoices): a person always answers."""
STAFF_ONLY: dict[Intent, Table] = {
    Intent.SHIPPING_PROBLEM: {
        "en": (
            r"\bdamaged\b|\bbroken\b|\bscratch",
            r"\bnever (?:arrived|came)\b|\blost\b|\bnot here\b",
            r"\bwrong (?:item|size|colou?r|product|house|address)\b|\bcontains eu\b",
            r"\bhas not moved\b|\bhasn't moved\b",
        ),
        "fa": (r"آسیب|خراب|پاره|لک شده|گم شده", r"گیر کرده|هیچ تغییری نکرده"),
        "de": (r"\bbeschädigt\b|\bkratzer\b|\beingedrückt\b|\bnie angekommen\b",),
        "es": (
            r"\bdañad[oa]s?\b|\barañazo\b|\baplastad[oa]\b|\bequivocad[oa]\b|\bde otra talla\b",
        ),
        "fr": (r"\bjamais re[çc]u\b|\babîmée?s?\b|\bendommagée?s?\b",),
    },
    Intent.PRODUCT_QUESTION: {
        "en": (
            r"\bitchy\b|\bwash|\bcare\b|\bmaterial\b|\bfabric\b",
            r"\btrue to size\b|\brun (?:small|large|big)\b",
        ),
        "fa": (r"آب نمی(?:\u200c| )?ره|آب رفتن|جنس|مخلوط|قالب", r"صددرصد"),
        "de": (r"\bfällt\b.{0,20}\baus\b|\bwaschen\b|\bmaterial\b",),
        "es": (r"\bmaterial\b|\blavar\b|\bhorma\b",),
        "fr": (r"\bmatière\b|\blaver\b|\btaille (?:petit|grand)\b",),
    },
    Intent.STOCK_OR_PRICE: {
        "en": (r"\bdiscount|\bcoupon\b|\bcodes?\b|\bblack friday\b|\bsale\b", r"\bmatch\b"),
        "fa": (r"تخفیف|کد",),
        "de": (r"\brabatt|\bgutschein",),
        "es": (r"\bdescuento|\bcup[oó]n\b",),
        "fr": (r"\bréduction\b|\bcode promo\b|\bsoldes\b",),
    },
    Intent.RETURN_OR_EXCHANGE: {
        "en": (r"\bshr[iu]nk|\bfaulty\b|\bdefect",),
        "fa": (r"تنگ شده|آب رفته|بعد از (?:اولین )?شست",),
        "de": (r"\beingelaufen\b|\bdefekt\b",),
        "es": (r"\bencogid[oa]\b|\bdefectuos[oa]\b",),
        "fr": (r"\brétréci\b|\bdéfectueu",),
    },
    Intent.REFUND: {
        "en": (r"\bonly\b.{0,40}\bcame back\b|\bthe rest\b|\bpartial",),
        "fa": (r"بقیه(?:ش| پول)",),
    },
    Intent.CHANGE_ADDRESS: {
        "en": (r"\bmy (?:mum|mom|mother|dad|father|wife|husband|friend|sister|brother)(?:'s)?\b",),
    },
}
"""Requests whose facts no tool holds, so a person answers even when the intent is clear:
damage and loss, fit and care advice, discounts and price matches,
faults, disputed refunds, another person's parcel."""

ANGER: Table = {
    "en": (r"\b(?:furious|angry|outraged|ridiculous|scam|fraud|disgusting|useless)\b", r"!!!+"),
    "fa": (r"عصبانی", r"کلاهبرداری", r"مسخره"),
    "de": (r"\b(?:wütend|betrug|unverschämt)\b",),
    "es": (r"\b(?:estafa|indignad[oa]|furios[oa])\b",),
    "fr": (r"\b(?:arnaque|furieu(?:x|se)|scandaleux)\b",),
}
MANIPULATION: Table = {
    "en": (
        r"\bignore (?:all |any |the )?(?:previous|prior|above|earlier) (?:instructions|rules)",
        r"(?:^|\n)\s*(?:system|assistant|developer)\s*:",
        r"<<<|>>>|\bend email\b|\[/?(?:inst|system)\]",
        r"\byou are (?:now )?(?:an? )?(?:ai|assistant|language model|chatbot)\b",
    ),
    "fa": (
        r"(?:دستورالعمل|دستورات)(?:‌|\s)?(?:های)? قبلی را نادیده",
        r"پیام سیستم",
    ),
}
"""Text that talks to the machine rather than to the shop: a person should see the attempt."""
LEGAL: Table = {
    "en": (
        r"\b(?:lawyer|attorney|solicitor|sue|lawsuit|legal action|chargeback|small claims|"
        r"consumer protection)\b",
    ),
    "fa": (r"وکیل", r"دادگاه", r"اقدام قانونی"),
    "de": (r"\banwalt\b", r"\bverbraucherzentrale\b"),
    "es": (r"\babogado\b", r"\bdenuncia\b"),
    "fr": (r"\bavocat\b", r"\bporter plainte\b"),
}
POLICY_QUESTIONS: tuple[tuple[str, str], ...] = (
    (r"\breturn policy\b|\bhow (?:long|many days)\b.{0,40}\breturn|\bcan i return\b", "returns"),
    (r"\brefund policy\b", "refunds"),
    (r"\bshipping (?:cost|time|policy|to)\b|\bdo you ship\b|\bdelivery time\b", "shipping"),
    (r"\bhow long (?:does|will|do) (?:the )?(?:delivery|shipping)\b", "shipping"),
    (r"\bcustoms\b|\bimport (?:vat|duty|duties|tax)\b", "shipping"),
    (r"\benv[ií]os? a\b|\bhac[eé]is env[ií]os\b|\blivrez-vous\b|\bliefern sie nach\b", "shipping"),
    (r"شرایط (?:مرجوع|بازگشت)", "returns"),
    (r"هزینه ارسال", "shipping"),
)
"""Which published policy a question is about, by pattern."""
PRODUCT_GLOSSARY: dict[str, str] = {
    # Garments and goods, to the words of the store's (English) product titles.
    "regenjacke": "rain jacket",
    "jacke": "jacket",
    "chaqueta": "jacket",
    "veste": "jacket",
    "pull": "sweater",
    "pullover": "sweater",
    "jersey": "sweater",
    "mérinos": "merino",
    "merino": "merino",
    "bottes": "boots",
    "botas": "boots",
    "stiefel": "boots",
    "schuhe": "shoes",
    "zapatos": "shoes",
    "chaussures": "shoes",
    "bufanda": "scarf",
    "écharpe": "scarf",
    "schal": "scarf",
    "cachemira": "cashmere",
    "kaschmir": "cashmere",
    "leinenkleid": "linen dress",
    "kleid": "dress",
    "vestido": "dress",
    "robe": "dress",
    "encerada": "waxed",
    "ciré": "waxed",
    "bolso": "bag",
    "sac": "bag",
    "tasche": "bag",
    "کتونی": "sneakers",
    "کانواس": "canvas",
    "شال": "scarf",
    "کشمیر": "cashmere",
    "کیف": "bag",
    "چرمی": "leather",
    "پیراهن": "shirt",
    "کتان": "linen",
    "پالتو": "overcoat",
    # Words of a question that name no product.
    "discount": "",
    "codes": "",
    "code": "",
    "sale": "",
    "precio": "",
    "preis": "",
    "prix": "",
    "talla": "",
    "taille": "",
    "größe": "",
    "sind": "",
    "est": "",
    "les": "",
    "der": "",
    "die": "",
    "das": "",
    "the": "",
}
"""Product words in the catalog languages, in the words of the store's product titles ("" for
words that name no product), so a German "Regenjacke" finds the "Rain Jacket". Persian words
count only when listed here."""
