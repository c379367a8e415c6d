"""PII → typed placeholders, before anything reaches a training file, a log or an adapter.

Detected, in this priority order (an earlier type wins where two overlap):

* ``[EMAIL]``   ``jane.doe@example.com``
* ``[IBAN]``    two letters, two check digits, 11–30 letters/digits (spaces allowed), verified
  with the ISO 13616 mod-97 checksum.
* ``[CARD]``    13–19 digits, either unbroken or grouped like a card (4-4-4-4[-3], 4-6-5, 4-6-4)
  with spaces or dashes; must pass the Luhn check, start with a card-network prefix (2–6) of a
  plausible length, and must not follow a word such as "order", "invoice" or "#". Order numbers
  (``113542617735902`` is Luhn-valid but starts with 1) are left alone.
* ``[PHONE]``   phone-like *formatting* only: ``+`` and a country code (``+44 20 7946 0958``,
  ``+912249552484``), North-American groups (``877-399-3086``, ``(555) 123-4567``,
  ``1-800-555-0199``), trunk-prefixed groups (``020 7946 0958``, ``0345 810 1010``), or an
  unbroken 10–13 digit run within six words after a phone word ("call", "mobile", "my
  number", "reached on", …) and not within five words after an order word ("order", "#",
  "account", "invoice", …). A bare mobile number with no such word is *not* detected.
  Dates, prices, times and versions never match.
* ``[ADDRESS]`` a house number, one to four capitalised words and a street suffix
  (``221B Baker Street``, ``350 5th Avenue``, ``12 Elm Rd``).
* ``[HANDLE]``  ``@name`` not preceded by a word character (so never part of an email).

URLs and bitext-style ``{{Order Number}}`` placeholders are protected: nothing inside them is
redacted (and URLs themselves are kept, they rarely identify a customer).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from trainer.interaction import Message, Ticket

PLACEHOLDER_TYPES = ("EMAIL", "IBAN", "CARD", "PHONE", "ADDRESS", "HANDLE")

_PROTECTED_RE = re.compile(r"https?://\S+|www\.\S+|\{\{[^{}]*\}\}")
_EMAIL_RE = re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
                       r"\.[A-Za-z]{2,}\b")
_IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,8}\b")
_CARD_RE = re.compile(
    r"(?<![\w-])(?:\d{13,19}|\d{4}(?:([ -])\d{4}){2,3}(?:\1\d{1,3})?|\d{4}([ -])\d{6}\2\d{4,5})"
    r"(?![\w-])"
)
_PHONE_RE = re.compile(
    r"(?<![\w+/.-])(?<!\d[ -])(?:"
    r"\+\d{1,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,5}){1,5}"   # +44 20 7946 0958, +912249552484
    r"|(?:1[ .-])?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}"   # 877-399-3086, (555) 123-4567
    r"|0\d{2,4}[ -]\d{3,4}[ -]?\d{3,4}"                        # 020 7946 0958
    r")(?![\w/-]|\.\d)"
)
_BARE_PHONE_RE = re.compile(r"(?<![\w+/.-])0?\d{10,12}(?![\w/-]|\.\d)")
_PHONE_WORDS_RE = re.compile(
    r"(?:\b(?:call(?:ed|ing)?|phone|mobile|mob|cell|tel|telephone|contact|whats ?app|sms|"
    r"text me|reach(?:ed)?|dial(?:ler|er)?|my line)\b"
    r"|\b(?:my|this|your|affected) (?:\w+ )?(?:number|no)\b|\bnumber is\b)"
    r"\W*(?:\w+\W+){0,6}$", re.IGNORECASE)
_ORDER_WORDS_RE = re.compile(
    r"(?:\b(?:order|purchase|tracking|invoice|account|acct|ref|reference|booking|pnr|case|"
    r"ticket|transaction|receipt|serial|imei|id)\b|#)\W*(?:\w+\W+){0,5}$", re.IGNORECASE)
_STREET_SUFFIXES = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl|"
    "Terrace|Close|Crescent|Square|Sq|Parkway|Pkwy|Highway|Hwy|Row|Gardens|Grove|Mews"
)
_ADDRESS_RE = re.compile(
    r"(?<![:./-])\b\d{1,5}[A-Za-z]?,?(?: (?:[A-Z][A-Za-z'-]+|\d{1,3}(?:st|nd|rd|th))){1,4} "
    rf"(?:{_STREET_SUFFIXES})\b\.?"
)
_HANDLE_RE = re.compile(r"(?<![\w@.])@[A-Za-z0-9_]{1,30}\b")
_PLACEHOLDER_RE = re.compile(r"\[(" + "|".join(PLACEHOLDER_TYPES) + r")\]")


@dataclass(frozen=True)
class Redacted:
    """A redacted text and the original values found, by placeholder type, in order."""

    text: str
    found: dict[str, list[str]] = field(default_factory=dict, hash=False)


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn (mod-10) check."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return bool(digits) and total % 10 == 0


def iban_valid(candidate: str) -> bool:
    """Whether a (space-free, upper-case) string is an IBAN with a valid mod-97 checksum."""
    if not 15 <= len(candidate) <= 34 or not candidate[:2].isalpha():
        return False
    rearranged = candidate[4:] + candidate[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def _card_network_ok(digits: str) -> bool:
    """Whether the digits start like a payment card of a plausible length."""
    length = len(digits)
    if digits[0] == "4":
        return length in (13, 16, 19)
    if digits[:2] in ("34", "37"):
        return length == 15
    if re.match(r"5[1-5]|2[2-7]", digits):
        return length == 16
    if re.match(r"3[05689]|6|50|5[6-9]", digits):
        return 14 <= length <= 19
    return False


def _iban_matches(text: str) -> Iterator[tuple[int, int]]:
    """Spans of checksum-valid IBANs (trailing groups trimmed until the checksum holds)."""
    for match in _IBAN_RE.finditer(text):
        parts = match.group().split(" ")
        for keep in range(len(parts), 0, -1):
            candidate = " ".join(parts[:keep])
            if iban_valid(candidate.replace(" ", "")):
                yield match.start(), match.start() + len(candidate)
                break


def _card_matches(text: str) -> Iterator[tuple[int, int]]:
    """Spans of Luhn-valid card numbers that do not follow an order-like word."""
    for match in _CARD_RE.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if not 13 <= len(digits) <= 19 or not _card_network_ok(digits):
            continue
        if not luhn_valid(digits) or _ORDER_WORDS_RE.search(text[max(0, match.start() - 40):
                                                                  match.start()]):
            continue
        yield match.span()


def _phone_matches(text: str) -> Iterator[tuple[int, int]]:
    """Spans of phone-formatted numbers, and bare digit runs right after a phone word."""
    for match in _PHONE_RE.finditer(text):
        if 7 <= len(re.sub(r"\D", "", match.group())) <= 15:
            yield match.span()
    for match in _BARE_PHONE_RE.finditer(text):
        before = text[max(0, match.start() - 40):match.start()]
        if _PHONE_WORDS_RE.search(before) and not _ORDER_WORDS_RE.search(before):
            yield match.span()


def _regex_matches(pattern: re.Pattern[str]) -> Callable[[str], Iterator[tuple[int, int]]]:
    """A detector yielding every span of ``pattern``."""
    return lambda text: (m.span() for m in pattern.finditer(text))


_DETECTORS: tuple[tuple[str, Callable[[str], Iterator[tuple[int, int]]]], ...] = (
    ("EMAIL", _regex_matches(_EMAIL_RE)),
    ("IBAN", _iban_matches),
    ("CARD", _card_matches),
    ("PHONE", _phone_matches),
    ("ADDRESS", _regex_matches(_ADDRESS_RE)),
    ("HANDLE", _regex_matches(_HANDLE_RE)),
)


def redact(text: str) -> Redacted:
    """Replace PII in ``text`` with typed placeholders; report the original values found."""
    taken = [m.span() for m in _PROTECTED_RE.finditer(text)]
    spans: list[tuple[int, int, str]] = []
    for kind, detector in _DETECTORS:
        for start, end in detector(text):
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            taken.append((start, end))
            spans.append((start, end, kind))
    spans.sort()
    found: dict[str, list[str]] = {}
    pieces: list[str] = []
    cursor = 0
    for start, end, kind in spans:
        pieces.append(text[cursor:start])
        pieces.append(f"[{kind}]")
        found.setdefault(kind, []).append(text[start:end])
        cursor = end
    pieces.append(text[cursor:])
    return Redacted("".join(pieces), found)


def merge_found(*founds: dict[str, list[str]]) -> dict[str, list[str]]:
    """Concatenate several ``found`` maps, keeping order of appearance per type."""
    merged: dict[str, list[str]] = {}
    for found in founds:
        for kind, values in found.items():
            merged.setdefault(kind, []).extend(values)
    return merged


def redact_message(message: Message) -> tuple[Message, dict[str, list[str]]]:
    """Redact one message's text and author id; return it with the values found."""
    body = redact(message.text)
    author = redact(message.author_id) if message.author_id is not None else None
    redacted = replace(message, text=body.text,
                       author_id=author.text if author is not None else None)
    return redacted, merge_found(body.found, author.found if author is not None else {})


def redact_ticket(ticket: Ticket) -> Ticket:
    """The ticket with its subject and every message's text (and author id) redacted."""
    subject = redact(ticket.subject).text if ticket.subject is not None else None
    messages = tuple(redact_message(m)[0] for m in ticket.messages)
    return replace(ticket, subject=subject, messages=messages)


def fill_placeholders(text: str, found: dict[str, list[str]]) -> str:
    """Put the current ticket's values back into a suggested text's placeholders.

    The i-th ``[TYPE]`` gets the i-th known value of that type (the last one when there are
    fewer values than placeholders); a type with no known value keeps its placeholder, so a
    value can never come from another ticket.
    """
    seen: dict[str, int] = {}

    def _value(match: re.Match[str]) -> str:
        kind = match.group(1)
        values = found.get(kind) or []
        index = seen.get(kind, 0)
        seen[kind] = index + 1
        if not values:
            return match.group()
        return values[min(index, len(values) - 1)]

    return _PLACEHOLDER_RE.sub(_value, text)
