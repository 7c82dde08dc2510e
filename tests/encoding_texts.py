"""Real text in the encodings people's tools still save in, for the encoding hint of core.encoding (its tests,
and bench/bench_encoding_hint.py): sentences, and single words with one or two telling letters, placed
alone, in a spreadsheet's CSV cell, or in one line of a JSONL file of plain ASCII lines."""

from __future__ import annotations

import json

HEADER = "id,verdict,reason,corrected_reply,reviewer,note"

SENTENCES: dict[str, list[str]] = {
    "cp1252": [  # Windows Western: French, German, Spanish, Portuguese, Italian, Swedish, English typography
        "Le client a été débité deux fois ; nous avons déjà remboursé les frais de 5 €.",
        "Ça coûte 20 € – voilà, c’est fait. Merci de votre patience, à bientôt !",
        "Die Überweisung ist schon unterwegs; bitte prüfen Sie Ihr Konto in ein paar Tagen. Grüße!",
        "Straße, Größe und Gebühren: „Ihre Karte wurde gesperrt“, schrieb der Kundendienst.",
        "La tarjeta llegará en cinco días hábiles; si no, llámenos. ¿Necesita algo más? Señor Muñoz",
        "A transferência foi concluída; não há taxa adicional. Obrigado pela atenção, João.",
        "Il bonifico è già partito: controlli il saldo più tardi, perché può richiedere un giorno.",
        "The “naïve” reply was wrong – the fee is €5, not £5; see the café’s receipt.",
        "Thanks for waiting, the naïve reply was wrong.",
        "Kunden får pengarna tillbaka på måndag; kortet är spärrat och ett nytt skickas.",
    ],
    "cp1250": [  # Windows Central European: Polish, Czech, Hungarian, Slovak, Croatian, Romanian
        "Dzień dobry, proszę o zwrot środków za podwójną płatność kartą.",
        "Przelew został zaksięgowany, ale saldo się nie zgadza; czekam na wyjaśnienie.",
        "Zażółć gęślą jaźń – łódź płynie po rzece, a żółw śpi.",
        "Dobrý den, platba kartou byla stržena dvakrát, prosím o vrácení peněz.",
        "Příliš žluťoučký kůň úpěl ďábelské ódy.",
        "Jó napot, a kártyámat letiltották; kérem, küldjenek egy újat minél előbb.",
        "Árvíztűrő tükörfúrógép, a díj összege nem egyezik a szerződéssel.",
        "Dobrý deň, prevod peňazí ešte neprišiel na môj účet.",
        "Poštovani, kartica mi je blokirana i ne mogu platiti račun u trgovini.",
        "Bună ziua, plata a fost efectuată de două ori; vă rog să returnaţi suma.",
    ],
    "shift_jis": [
        "こんにちは、お問い合わせありがとうございます。",
        "カードがまだ届きません。いつ届きますか？",
        "振込の手数料はいくらですか。",
        "口座の残高が正しく表示されません。確認してください。",
    ],
    "gbk": [
        "您好，感谢您的来信。我的卡还没有收到。",
        "请问转账需要多长时间？",
        "我的账户余额显示不正确，请帮我查一下。",
        "这笔手续费是怎么计算的？",
    ],
    "cp1251": [
        "Здравствуйте, моя карта до сих пор не пришла.",
        "Перевод был отправлен вчера, но деньги ещё не поступили.",
        "Сколько стоит комиссия за снятие наличных?",
    ],
}

WORDS: dict[str, list[str]] = {  # one or two telling letters: little for any detector to go on
    "cp1252": [
        "naïve reply",
        "café closed",
        "José said no",
        "Señor Muñoz",
        "déjà vu",
        "Größe",
        "20 € fee",
        "“quoted” – dash",
        "résumé",
        "façade",
        "Renée",
        "Müller",
        "Iñaki",
    ],
    "cp1250": [
        "Łódź",
        "Kraków",
        "łatwo",
        "proszę",
        "Dvořák",
        "őrző",
        "żółw",
        "Śląsk",
        "Braşov",
        "Tomáš",
        "Pécs",
        "žluť",
    ],
}

CONTEXTS = ("alone", "csv", "jsonl")


def placed(text: str, context: str) -> str:
    """A file's text with `text` alone on its line, in a CSV cell between rows of ASCII (as a reviewer's
    spreadsheet saves it), or in the middle line of 40 ASCII JSONL lines."""
    if context == "alone":
        return text + "\n"
    if context == "csv":
        return "\r\n".join([HEADER, "aaa,approve,,,ana,", f'bbb,reject,"{text}",,ana,', "ccc,approve,,,bo,"]) + "\r\n"
    lines = [{"messages": [{"role": "user", "content": f"where is order number {i}, it has not come yet"}]}
             for i in range(40)]  # fmt: skip
    lines[20]["messages"][0]["content"] = text
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
