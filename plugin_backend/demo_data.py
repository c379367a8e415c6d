"""Northwind Outfitters: CloneDesk's own deterministic demo account (interaction JSONL v1).

A fictional outdoor-gear web shop. The data is generated here (standard library only), so
the README's demo runs without anybody's real tickets, and it is built to make the
product's behaviour visible: agents reuse house templates with ticket-specific slots, a
consistent tone ("Hi {first name}, … — Maria, Northwind Support") and escalate by rules
that can be read off the customer's words.

Escalation rules (the ``escalation_group`` field; checked in tests/test_demo_data.py):

* any category, the customer threatens legal action or mentions the press
  (lawyer, attorney, legal action, small claims, journalist, reporter, newspaper, the
  press, the media) → ``"Escalations"`` (this rule wins over the two below);
* ``billing_disputes`` where the customer mentions a chargeback or a dispute with their
  bank/card company, or quotes an amount over $500 → ``"Billing"``;
* ``account_access`` where the customer cannot verify their identity or suspects an
  account takeover (hacked, someone else, wasn't me, didn't place, no longer have
  access, can't verify) → ``"Trust & Safety"``.

No other ticket contains those words, so the rules hold both ways. Small double charges
and other billing slips are refunded by the agent directly. Outcome labels: ~12 %
escalated, ~4 % reopened, CSAT good ~60 % / bad ~6 % (bad = a sloppy, unhelpful agent,
mostly ``agent-dan``), ~3 % open or pending (recent, unresolved), ~2 % email auto-replies.
E-mail addresses (example.com/.net/.org) and phone numbers (555-01xx) are fictional.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

WINDOW_START = datetime(2026, 1, 5, tzinfo=UTC)
WINDOW_END = datetime(2026, 9, 30, 23, 59, 59, tzinfo=UTC)
EXPORT_AT = datetime(2026, 10, 1, tzinfo=UTC)  # solved tickets older than 28 days are closed

CATEGORY_SHARES: dict[str, float] = {
    "order_tracking": 0.20, "returns": 0.18, "cancellations": 0.15,
    "billing_disputes": 0.17, "account_access": 0.12, "multi_step": 0.18,
}
ESCALATION_GROUPS = ("Billing", "Trust & Safety", "Escalations")
AGENTS: dict[str, str] = {
    "agent-maria": "Maria", "agent-tom": "Tom", "agent-li": "Li", "agent-priya": "Priya",
    "agent-dan": "Dan",
}
AGENT_WEIGHTS = (30, 25, 25, 12, 8)
SLOPPY_AGENT = "agent-dan"
AUTOREPLY_AUTHOR = "northwind-autoreply"
AUTOREPLY_TEXT = (
    "Thanks for contacting Northwind Outfitters. We have received your request ({tid}) and a "
    "member of our support team will reply within 1 business day. In the meantime, you can "
    "track orders and start returns at northwindoutfitters.com/help.\n\n"
    "This is an automated message."
)
SIGNATURE = "— {agent}, Northwind Support"

# ---------------------------------------------------------------------------- catalogue
# (name, price, kind); kind: apparel / footwear / gear
SIZED = (
    ("Summit Down Jacket", 229.0, "apparel"), ("Cascade Rain Shell", 159.0, "apparel"),
    ("Northwind Fleece Pullover", 79.0, "apparel"), ("Merino Base Layer Crew", 68.0, "apparel"),
    ("Ridgeline Softshell Pants", 99.0, "apparel"), ("Tundra Parka", 389.0, "apparel"),
    ("Basalt Hiking Boots", 179.0, "footwear"), ("Kestrel Trail Runners", 139.0, "footwear"),
)
GEAR = (
    ("Trailhead 40L Backpack", 129.0, "gear"), ("Alder Ridge 3-Season Tent", 349.0, "gear"),
    ("Driftwood Camp Chair", 49.0, "gear"), ("Granite Trekking Poles", 89.0, "gear"),
    ("Polar Sleeping Bag (-10°C)", 289.0, "gear"), ("Headlamp 400 Lumen", 39.0, "gear"),
    ("Insulated Water Bottle 1L", 34.0, "gear"), ("Ultralight Down Quilt", 419.0, "gear"),
    ("Wool Hiking Socks 3-Pack", 29.0, "gear"),
)
BIG = (
    ("Expedition 4-Season Tent", 689.0, "gear"), ("Backcountry Ski Touring Bundle", 1149.0, "gear"),
    ("Basecamp Family Tent 8P", 579.0, "gear"),
)
COLORS = ("Slate Blue", "Forest Green", "Black", "Ember Orange", "Sand")
APPAREL_SIZES = ("XS", "S", "M", "L", "XL", "XXL")
SHOE_SIZES = ("7", "8", "8.5", "9", "9.5", "10", "10.5", "11", "12")
CARRIERS = ("UPS", "FedEx", "USPS", "DHL")
HUB_CITIES = ("Memphis, TN", "Louisville, KY", "Reno, NV", "Allentown, PA",
              "Salt Lake City, UT", "Columbus, OH", "Indianapolis, IN")
PROMOS = (("SPRING20", 20), ("TRAIL15", 15), ("WELCOME10", 10), ("SUMMIT25", 25))
DAMAGES = ("one of the tent poles is snapped", "there's a tear along the seam",
           "the buckle on the hip belt is cracked", "the zipper pull came off on day one",
           "the box was crushed and the frame is bent")
STREETS = ("Alder St", "Cedar Ave", "Willow Ln", "Harbor Rd", "Maple Dr", "Ridge Way",
           "Spruce Ct", "Lakeview Blvd")
TOWNS = (("Portland", "OR", "972"), ("Boise", "ID", "837"), ("Denver", "CO", "802"),
         ("Madison", "WI", "537"), ("Asheville", "NC", "288"), ("Burlington", "VT", "054"),
         ("Bend", "OR", "977"), ("Flagstaff", "AZ", "860"))
FIRST_NAMES = ("Jenna", "Marcus", "Aisha", "Tomás", "Olivia", "Raj", "Hannah", "Kenji",
               "Sofia", "Daniel", "Grace", "Mateo", "Chloe", "Samuel", "Priyanka", "Liam",
               "Fatima", "Noah", "Emily", "Andre", "Megan", "Yusuf", "Claire", "Ben",
               "Zoe", "Victor", "Nadia", "Ethan", "Lucy", "Omar", "Ingrid", "Caleb")
LAST_NAMES = ("Ortiz", "Bennett", "Khan", "García", "Nguyen", "Patel", "Schmidt", "Tanaka",
              "Rossi", "Okafor", "Walsh", "Fischer", "Lindqvist", "Moreau", "Haddad",
              "Kowalski", "Brooks", "Silva", "Murphy", "Chen", "Adeyemi", "Novak")
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")
AREA_CODES = ("503", "208", "303", "608", "828", "802", "541", "928", "415", "617")

# ------------------------------------------------------------------------- shared texts
ORDER_ASK = ("Could you send me your order number? It starts with NW- and you'll find it in "
             "your order confirmation email.")
ORDER_ANSWERS = ("Sure, it's {order}.", "It's {order}", "order number is {order}",
                 "Here you go: {order}", "{order} - sorry, should have said!")
PHOTO_ASK = ("Could you send me your order number and a photo of {photo_of}? That lets me "
             "sort this out in one go.")
PHOTO_ANSWERS = ("Sure - order {order}, photo attached ({img}).",
                 "It's {order}. I've attached a photo.", "order number is {order}, pic attached",
                 "Order {order}. Photos attached, hope they're clear enough.")
THANKS = ("Perfect, thank you!", "Great, thanks {agent}!", "thx, that's all",
          "Thank you so much for the quick help.", "ok great thanks")
OPEN_NUDGES = ("Any update on this?", "hello?? is anyone there", "Still waiting to hear back.",
               "Hi, just following up on my message from the other day.")
COMPLAINTS = ("That doesn't answer my question at all.",
              "Seriously? Can someone actually look at my order?",
              "That's not helpful. I already checked that.",
              "I've been a customer for years and this is the reply I get?")
SLOPPY_GENERIC = ("pls check the FAQ on our website.", "We are looking into it.",
                  "ok noted", "as i said, please wait.")
OPENERS = {
    "sorry": ("I'm sorry about this. ", "Sorry for the trouble with this! ",
              "Thanks for letting us know, and sorry about this. "),
    "thanks": ("Thanks for reaching out! ", "Thanks for getting in touch. ",
               "Happy to help with this. "),
    "followup": ("Thanks for the details. ", "Thanks for sending that over. "),
    "again": ("Thanks for getting back to me, and sorry this isn't sorted yet. ",
              "Sorry about this, and thanks for following up. "),
}
CLOSINGS = {
    "email": ("If there's anything else, just reply to this email.",
              "Let me know if there's anything else I can do."),
    "chat": ("Anything else I can help with today?", "Is there anything else I can do for you?"),
    "handoff": ("Thanks for your patience.", "Thank you for bearing with us."),
    "ask": ("Thanks!", "Thanks in advance."),
}

# escalation: customer triggers and the agent's hand-off
CHARGEBACK_OPENINGS = (
    ("I've already filed a chargeback with my bank for order {order} because nobody answered "
     "my emails."),
    ("I was charged {price} for order {order}, which I cancelled. If it isn't refunded today "
     "I'm opening a dispute with my bank."),
    ("My bank has opened a dispute on the {price} charge for order {order}. What do you need "
     "from me?"),
    ("The refund for order {order} still hasn't arrived, so I'm doing a chargeback through my "
     "credit card company."),
    "hi, i disputed the {price} charge with my bank because it was taken twice. order {order}",
)
CHARGEBACK_FOLLOWUPS = (
    "It's been a week and nothing has changed, so I've now opened a dispute with my bank.",
    "Honestly I'm done waiting. I'm filing a chargeback.",
    "My card company says I should raise a chargeback if this isn't fixed, so I've started one.",
)
BIG_AMOUNT_OPENINGS = (
    "I was charged {big_double} for order {order}, but I only ordered one {big_product}!",
    ("There are two charges of {big_price} on my card for the {big_product} (order {order}). "
     "Please fix this."),
    ("You charged me {big_price} for order {order}, which I cancelled the same day. Where is "
     "my money?"),
    ("Why was I billed {big_price} for the {big_product}? It was on sale when I ordered. "
     "Order {order}."),
)
TS_OPENINGS = (
    ("I think my account has been hacked. There's an order {order} I didn't place and my "
     "address was changed."),
    "I got an email saying my password was changed, but that wasn't me. Now I can't log in.",
    ("I no longer have access to the email on my account (it was my old work address) and I "
     "can't verify it's me any other way."),
    "Someone else logged into my account and used my saved card. Please stop it!",
    ("I lost my phone, so I can't get the sign-in code and can't verify my identity. Can you "
     "help me get back in?"),
)
TS_FOLLOWUPS = (
    ("That's the problem: I no longer have access to that email address, and I can't verify "
     "my account any other way."),
    ("Wait, I didn't change my password. Someone else must have, and there's an order on there "
     "I didn't place."),
    "The reset email goes to my old work address. I no longer have access to it.",
)
LEGAL_SENTENCES = (
    "If this isn't sorted by Friday I'll be speaking to a lawyer.",
    "My attorney has advised me to take this to small claims court.",
    "I'm prepared to take legal action over this.",
    "I'll be filing a complaint and taking you to small claims court.",
)
PRESS_SENTENCES = (
    "I'm a journalist and I'm writing a piece about how online shops treat their customers.",
    "I've been in touch with a reporter at our local newspaper about this.",
    "If this isn't fixed I'm going to the press.",
    "I'm going to share this story with the media.",
)
NO_REPLY = ("I've emailed twice already with no reply. ",
            "Nobody has answered my last two messages about this. ")
FRUSTRATED = ("This is the third time I've had to chase this. ", "That's not good enough. ",
              "Unacceptable. ", "")
HANDOFFS = {
    "billing_dispute": (
        ("Because a bank dispute is involved, I've passed this to our Billing team, who handle "
         "chargebacks and bank disputes; they'll reply within 1 business day. Please keep the "
         "dispute reference from your bank to hand."),
        ("I've passed this to our Billing team, who handle bank disputes and chargebacks; "
         "they'll reply within 1 business day with the next steps for order {order}."),
    ),
    "billing_amount": (
        ("Because this involves a charge over $500, I've passed it to our Billing team, who "
         "review larger payment issues; they'll reply within 1 business day. You don't need to "
         "do anything in the meantime."),
        ("I've passed order {order} to our Billing team, who handle charges over $500; they'll "
         "reply within 1 business day and make sure you're only charged for what you ordered."),
    ),
    "trust_safety": (
        ("To keep your account safe I've locked it and passed this to our Trust & Safety team, "
         "who handle account security and identity checks; they'll email you within 1 business "
         "day. Please don't share your password or card details with anyone, including us."),
        ("I've secured your account and passed this to our Trust & Safety team, who verify "
         "identity and handle suspected account takeovers; they'll be in touch within 1 "
         "business day."),
    ),
    "legal": (
        ("I'm sorry it has come to this. I've passed your case to our Escalations team, who "
         "handle formal complaints and legal matters; a senior team member will reply within 1 "
         "business day."),
        ("I understand. I've passed your case to our Escalations team, who handle formal "
         "complaints and legal matters; they'll reply within 1 business day."),
    ),
    "press": (
        ("Thanks for letting us know. I've passed your message to our Escalations team, who "
         "handle press and media enquiries; they'll reply within 1 business day."),
    ),
}
ESCALATION_GROUP = {"billing_dispute": "Billing", "billing_amount": "Billing",
                    "trust_safety": "Trust & Safety", "legal": "Escalations",
                    "press": "Escalations"}
ESCALATION_REASON = {"billing_dispute": "bank dispute / chargeback",
                     "billing_amount": "charge over $500", "trust_safety": "identity / takeover",
                     "legal": "legal threat", "press": "press enquiry"}

TYPOS = {"received": "recieved", "the": "teh", "definitely": "definately", "address": "adress",
         "tomorrow": "tommorow", "because": "becuase", "please": "pls", "really": "realy",
         "which": "wich", "until": "untill", "already": "allready", "package": "pakage",
         "thanks": "thx", "order": "ordr", "weird": "wierd", "arrived": "arived"}


@dataclass(frozen=True)
class _Intent:
    """One kind of request: what customers write and how the house templates answer it."""

    name: str
    category: str
    subjects: tuple[str, ...]
    openings: tuple[str, ...]
    resolutions: tuple[str, ...]
    sloppy: tuple[str, ...] = ()
    reopen: tuple[tuple[str, str], ...] = ()
    needs_order: bool = True
    always_ask: bool = False
    ask: str = ORDER_ASK
    answers: tuple[str, ...] = ORDER_ANSWERS
    products: str = "any"  # any / sized / small
    mood: str = "thanks"
    extra_turn: tuple[str, str] | None = None


def _i(name: str, category: str, **kw: Any) -> _Intent:
    return _Intent(name=name, category=category, **kw)


INTENTS: tuple[_Intent, ...] = (
    # ------------------------------------------------------------ order tracking
    _i("where_is_my_order", "order_tracking", mood="sorry",
       subjects=("Where is my order?", "Order {order} status", "When will my order arrive?",
                 "Order not here yet", "Re: Your Northwind order {order} has shipped"),
       openings=(("Hi, I ordered the {product} on {c_order_date} (order {order}) and it still "
                  "hasn't arrived. Can you tell me where it is?"),
                 ("Where is my order {order}? It was supposed to be here by {c_eta_missed} and I "
                  "need it for a trip this weekend."),
                 "The tracking for {order} hasn't updated in 4 days. Is it lost?",
                 "Hey, just checking on my {product}. Any idea when it'll show up?",
                 ("I ordered a {product} on {c_order_date} and it's still not here. Really need "
                  "it before next week.")),
       resolutions=(("I've checked order {order}: it shipped on {ship_date} with {carrier} "
                     "(tracking {tracking}). The latest scan shows it at the {carrier} facility "
                     "in {city}, and the estimated delivery is {eta}."),
                    ("Your order {order} left our warehouse on {ship_date} with {carrier}, "
                     "tracking number {tracking}. It's in transit through {city} and should "
                     "arrive by {eta}. If it hasn't arrived by then, reply here and I'll open a "
                     "trace with {carrier} straight away.")),
       sloppy=("its with {carrier} now, we dont control their delivery times.",
               "Order is shipped. Please wait.", "You have to contact the carrier for that."),
       reopen=((("Hi again - tracking still says in transit in {city} and it's now well past the "
                 "date you gave me."),
                ("I've opened a trace with {carrier} and, so you're not left waiting, I've sent "
                 "a replacement {product} by express shipping today (tracking {tracking2}, "
                 "arriving by {eta2}). If the original turns up, just keep it aside and we'll "
                 "send a free return label.")),)),
    _i("delivered_not_received", "order_tracking", mood="sorry",
       subjects=("Package marked delivered but not received", "Missing parcel {order}",
                 "Never got my order"),
       openings=(("Tracking says my order {order} was delivered on {c_delivered} but there is "
                  "nothing here. I checked with my neighbours and the front desk."),
                 "it says delivered but i never got it?? order {order}",
                 ("Hi, my package shows as delivered yesterday but it is not at my door or in "
                  "the mailroom. What can I do?")),
       resolutions=(("{carrier} marked order {order} as delivered on {delivered_date}, so I've "
                     "opened a trace with them (reference {trace_ref}). Carriers usually find "
                     "these within 2 business days; if it's still missing on {trace_deadline}, "
                     "reply here and I'll send a replacement at no cost."),
                    ("I've opened a missing-parcel claim with {carrier} for order {order} "
                     "(reference {trace_ref}) and, since you've already checked around, I've "
                     "sent a replacement by express shipping today. The new tracking number is "
                     "{tracking2} and it should arrive by {eta2}.")),
       sloppy=("carrier says delivered. nothing we can do, check with your neighbours.",
               "Please file a claim with {carrier}."),
       reopen=(("It's been 3 days and the parcel still hasn't turned up.",
                ("Thanks for waiting. I've sent a replacement {product} by express shipping "
                 "(tracking {tracking2}, arriving by {eta2}) and closed the trace on our "
                 "side.")),)),
    _i("change_address", "order_tracking",
       subjects=("Change shipping address", "Wrong address on order {order}", "Address change"),
       openings=(("I just placed order {order} and realised I used my old address. Can you "
                  "change it to {new_address}?"),
                 ("Can I still change the shipping address on my order? I'm moving this week. "
                  "New address: {new_address}"),
                 "pls update the delivery address for {order} to {new_address}, thanks"),
       resolutions=(("Good news: order {order} hadn't shipped yet, so I've updated the delivery "
                     "address to {new_address}. You'll get a shipping confirmation with "
                     "tracking once it leaves our warehouse, usually within 1 business day."),),
       sloppy=("we cant change addresses after ordering.",),
       reopen=(("I just got the shipping email and it still shows my old address!",
                ("I've contacted {carrier} and they've redirected the parcel to {new_address} "
                 "(tracking {tracking}); it should now arrive by {eta}.")),)),
    _i("delivery_by_date", "order_tracking",
       subjects=("Will my order arrive in time?", "Need my order by {needby_short}"),
       openings=(("Will my order {order} arrive before {c_needby}? I need the {product} for a "
                  "hike that weekend."),
                 "i need my {product} by {c_needby}, can you speed up shipping?",
                 ("Hello, is there any way to get order {order} faster? Leaving for a trip on "
                  "{c_needby}.")),
       resolutions=(("Order {order} is with {carrier} (tracking {tracking}) and is due on {eta}, "
                     "ahead of {needby}. I've flagged it as time-sensitive and I'll keep an eye "
                     "on it for you."),),
       sloppy=("shipping times are on the website.",),
       reopen=(("It's {needby_short} tomorrow and the tracking hasn't moved since Tuesday.",
                ("I've sent a replacement {product} by overnight shipping at no cost (tracking "
                 "{tracking2}), so it arrives before your trip. If the first parcel turns up, "
                 "you can return it with a free label.")),)),
    # ------------------------------------------------------------------- returns
    _i("return_how", "returns",
       subjects=("Return request", "How do I return an item?", "Return for order {order}"),
       openings=("The {product} I got is too small, how do I return it? Order {order}.",
                 ("Hi, I'd like to return the {product} from order {order}, it doesn't fit. "
                  "What's the process?"),
                 "how do i send something back? the {product} is not what i expected",
                 "Can I return a {product} I bought 2 weeks ago? Never used, tags still on."),
       resolutions=(("I've set up the return for the {product} on order {order}. Your prepaid "
                     "return label is here: {return_link}. Drop the parcel at any {carrier} "
                     "location within 30 days, and we'll refund {price} to your original "
                     "payment method within 5–7 business days of it reaching us."),),
       sloppy=("Returns info is on our website under FAQ.", "just send it back to us."),
       reopen=(("I sent it back on {c_return_sent} but haven't got the refund yet.",
                ("Your return reached our warehouse on {return_date}. I've issued the refund of "
                 "{price} today; it usually shows on your statement within 3–5 business "
                 "days.")),)),
    _i("exchange_size", "returns", products="sized",
       subjects=("Exchange for a different size", "Size exchange", "Wrong size - exchange?"),
       openings=(("Can I swap the {product} for a size {size}? The {wrong_size} is too big. "
                  "Order {order}"),
                 ("I need to exchange my {product} for a different size ({size} instead of "
                  "{wrong_size})."),
                 "hi the {product} in {wrong_size} doesnt fit, can i get a {size} instead?"),
       resolutions=(("I've set up an exchange on order {order}: a {product} in size {size} will "
                     "ship as soon as your return is scanned by {carrier}. Here's your prepaid "
                     "return label for the size {wrong_size}: {return_link}. There's no extra "
                     "charge for the exchange."),),
       sloppy=("you need to return it and place a new order.",),
       reopen=(("I sent the {wrong_size} back a week ago and the new one hasn't shipped.",
                ("Your return was scanned on {return_date}; the {product} in size {size} "
                 "shipped today with {carrier} (tracking {tracking2}) and should arrive by "
                 "{eta2}.")),)),
    _i("refund_not_received", "returns", mood="sorry",
       subjects=("Where is my refund?", "Refund not received", "Refund for {order}"),
       openings=(("I returned my {product} over two weeks ago and still haven't seen the "
                  "refund. Order {order}."),
                 "where's my refund?? sent the return back on {c_return_sent}, order {order}",
                 ("Hi, I'm waiting on a refund of {price} for order {order}. Has my return "
                  "arrived?"),
                 "I sent back a {product} ages ago and no refund yet."),
       resolutions=(("Your return for order {order} arrived at our warehouse on {return_date}, "
                     "and the refund of {price} was issued on {refund_date} to your card ending "
                     "in {last4}. Banks usually take 3–5 business days to show it; if it isn't "
                     "there by {refund_deadline}, reply here and I'll chase it for you."),),
       sloppy=("refunds take time, please wait.", "It was refunded, check your bank."),
       reopen=(("Still no refund on my card, it's been over a week now.",
                ("I've checked with our payments provider: the refund of {price} for order "
                 "{order} was sent with reference RF-{ref}. If your card provider asks, that "
                 "reference will let them find it.")),)),
    _i("defective_item", "returns", mood="sorry",
       subjects=("Faulty item", "Broken after two weeks", "Warranty claim"),
       openings=(("The zipper on my {product} broke after two weeks of use. Is this covered? "
                  "Order {order}"),
                 "The {product} I bought is falling apart after one trip. Pretty disappointed.",
                 ("my {product} stopped working / broke already. order {order}. can i get a "
                  "replacement?")),
       resolutions=(("That's covered by our 1-year warranty. I've sent a replacement "
                     "{product} for order {order} today with {carrier} (tracking {tracking}, "
                     "arriving by {eta}). No need to send the faulty one back."),),
       sloppy=("Thats normal wear and tear, not covered.",),
       reopen=(("The replacement has the same problem!",
                ("I've refunded the full {price} for order {order} to your card ending in "
                 "{last4}, and you don't need to send anything back. I've also passed the "
                 "details to our product team so they can look at the fault.")),)),
    _i("late_return", "returns",
       subjects=("Return after 30 days?", "Late return request"),
       openings=(("I know it's been about 45 days but can I still return the {product}? Order "
                  "{order}. Never used."),
                 ("Is it too late to return my {product}? Bought it in {c_month}, still in the "
                  "box.")),
       resolutions=(("Our return window is 30 days, but as the {product} is unused I've made a "
                     "one-time exception: here's your prepaid return label: {return_link}. Once "
                     "it arrives we'll issue {price} as store credit to your account (it never "
                     "expires)."),),
       sloppy=("Sorry, 30 day policy.",),
       reopen=(("The return label link says it has expired.",
                ("I've issued a fresh prepaid label: {return_link}. It's valid for 14 days, and "
                 "the store credit of {price} will follow as soon as the parcel reaches us.")),)),
    # ------------------------------------------------------------- cancellations
    _i("cancel_unshipped", "cancellations",
       subjects=("Cancel my order", "Please cancel {order}", "Order cancellation"),
       openings=("Please cancel order {order}, I ordered the wrong size by mistake.",
                 "I need to cancel my order {order} asap, I found it cheaper locally",
                 "can u cancel my order? i placed it twice by accident",
                 "Hi, I'd like to cancel the order I placed this morning ({order}). Thanks."),
       resolutions=(("Done: order {order} was still being prepared, so I've cancelled it and "
                     "refunded {price} to your card ending in {last4}. You'll see the refund "
                     "within 3–5 business days."),),
       sloppy=("orders cant be cancelled once placed.",),
       reopen=(("I just got a shipping confirmation for the order you cancelled?",
                ("Our warehouse had already packed order {order} before the cancellation "
                 "reached them. Your refund of {price} stands; when the parcel arrives, just "
                 "refuse it or use this prepaid label: {return_link}.")),)),
    _i("cancel_shipped", "cancellations",
       subjects=("Cancel order - already shipped?", "Stop my order", "Cancel {order}"),
       openings=("I want to cancel {order} but it says it already shipped. Can you stop it?",
                 "please cancel my order, I don't need the {product} anymore. {order}",
                 "Can I still cancel? The email says my {product} is on its way."),
       resolutions=(("Order {order} had already left our warehouse on {ship_date}, so I can't "
                     "cancel it in transit. When it arrives, you can refuse the delivery or use "
                     "this prepaid return label: {return_link}, and we'll refund {price} within "
                     "5–7 business days of it reaching us."),),
       sloppy=("Already shipped, can't cancel.",),
       reopen=(("I refused the delivery last week, when do I get my money back?",
                ("The parcel for order {order} is on its way back to us; {carrier} shows it "
                 "arriving on {eta}. I've refunded {price} to your card ending in {last4} "
                 "today, so you don't have to wait for it.")),)),
    _i("cancel_membership", "cancellations", needs_order=False,
       subjects=("Cancel Trail Club", "Stop membership renewal", "Trail Club cancellation"),
       openings=("Please cancel my Trail Club membership. I don't want it to renew.",
                 "How do I cancel the Northwind Trail Club? I don't use it enough.",
                 "cancel my membership pls"),
       ask="Could you confirm the email address your Trail Club membership is under?",
       answers=("It's {email}.", "{email}", "The membership is under {email}, thanks."),
       resolutions=(("I've cancelled your Trail Club membership, so it won't renew on "
                     "{renewal_date}. You keep free shipping and member pricing until then."),),
       sloppy=("You can cancel in your account settings.",),
       reopen=(("I was still charged the renewal after cancelling!",
                ("I'm sorry, the cancellation didn't reach our billing system in time. I've "
                 "refunded the $49.00 renewal to your card ending in {last4} and confirmed "
                 "the membership is closed.")),)),
    _i("cancel_renewal_refund", "cancellations", needs_order=False,
       subjects=("Trail Club renewal refund", "Charged for membership renewal"),
       openings=(("I got charged $49.00 for a Trail Club renewal I didn't want. Please cancel "
                  "it and refund me."),
                 ("my trail club membership renewed yesterday, I forgot to cancel. can I get "
                  "the $49.00 back?")),
       ask="Could you confirm the email address your Trail Club membership is under?",
       answers=("It's {email}.", "{email}"),
       resolutions=(("As the renewal was less than 14 days ago, I've cancelled your Trail Club "
                     "membership and refunded the $49.00 to your card ending in {last4}. It'll "
                     "show within 3–5 business days."),),
       sloppy=("Renewals are non refundable.",),
       reopen=(("The refund still isn't on my card.",
                ("The $49.00 refund was sent on {refund_date} with reference RF-{ref}; if it "
                 "isn't on your card by {refund_deadline}, your card provider can trace it "
                 "with that reference.")),)),
    _i("cancel_item", "cancellations",
       subjects=("Remove an item from my order", "Cancel part of order {order}"),
       openings=("Can you remove the {product2} from order {order}? I still want the rest.",
                 "I only want to cancel one thing from my order - the {product2}.",
                 "Please take the {product2} off order {order}, I ordered it twice"),
       resolutions=(("I've removed the {product2} from order {order} and refunded {price2} to "
                     "your card ending in {last4}; the rest of the order ships as planned."),),
       sloppy=("cant edit orders.",),
       reopen=(("The {product2} arrived anyway, with the rest of the order.",
                ("Sorry about that: our warehouse packed it before the change went through. "
                 "Your refund of {price2} stands; please send it back with this prepaid label: "
                 "{return_link}.")),)),
    # ---------------------------------------------------------- billing (small)
    _i("double_charge", "billing_disputes", products="small", mood="sorry",
       subjects=("Charged twice", "Double charge on my card", "Duplicate payment {order}"),
       openings=("I was charged twice for order {order}, two charges of {price} on my card.",
                 "Why do I see 2 charges of {price} for one order?? order {order}",
                 "My bank statement shows {price} taken twice for the {product}.",
                 "Hello, I think I paid twice for my {product}. Can you check?"),
       resolutions=(("You're right, I can see a duplicate payment of {price} on order {order}. "
                     "I've refunded the extra charge to your card ending in {last4}; it'll show "
                     "within 3–5 business days."),),
       sloppy=("One of them is a pending authorisation, it will drop off.",
               "pls wait a few days and check again."),
       reopen=(("Both charges are still on my statement.",
                ("The duplicate refund of {price} was sent on {refund_date} (reference "
                 "RF-{ref}). It should appear by {refund_deadline}; your card provider can "
                 "trace it with that reference.")),)),
    _i("promo_not_applied", "billing_disputes", products="small", mood="sorry",
       subjects=("Promo code didn't work", "Discount not applied to {order}"),
       openings=(("I used code {promo} at checkout but wasn't given the discount on order "
                  "{order}."),
                 "the {promo} code didnt apply to my {product}, I paid full price ({price})",
                 "Hi, my discount code {promo} was accepted but the total didn't change."),
       resolutions=(("{promo} gives {pct}% off, so I've refunded the difference of {discount} "
                     "for order {order} to your card ending in {last4}."),),
       sloppy=("codes cant be added after checkout.",),
       reopen=(("I only got part of the discount back.",
                ("You're right, I'd calculated it on the pre-tax total. I've refunded the "
                 "remaining difference for order {order} to your card ending in {last4}.")),)),
    _i("shipping_charged", "billing_disputes", products="small",
       subjects=("Charged for shipping?", "Free shipping not applied"),
       openings=(("I was charged {ship_fee} shipping but orders over $75 ship free? Order "
                  "{order}, total {price}."),
                 "why did I pay for shipping on my {product}? it was over $75",
                 "Shipping fee on order {order} shouldn't be there."),
       resolutions=(("Orders over $75 ship free, so the {ship_fee} shipping charge on order "
                     "{order} shouldn't have been there. I've refunded {ship_fee} to your card "
                     "ending in {last4}."),),
       sloppy=("shipping is charged at checkout, sorry.",),
       reopen=(("I don't see the shipping refund yet.",
                ("The {ship_fee} refund went out on {refund_date} (reference RF-{ref}); it "
                 "should appear by {refund_deadline}.")),)),
    _i("price_drop", "billing_disputes", products="small",
       subjects=("Price dropped after I bought", "Price adjustment request"),
       openings=(("I bought the {product} for {price} last week and now it's on sale for "
                  "{sale_price}. Can I get the difference?"),
                 "the {product} i just bought is now {sale_price}, do you do price matching?",
                 ("Hi, is there a price guarantee? My {product} went on sale 5 days after I "
                  "ordered (order {order}).")),
       resolutions=(("Our 14-day price guarantee covers this: I've refunded the difference of "
                     "{diff} for order {order} to your card ending in {last4}."),),
       sloppy=("prices change, we dont refund the difference.",),
       reopen=(("I still see the full price on my statement.",
                ("The {diff} price adjustment was sent on {refund_date} (reference RF-{ref}) "
                 "and shows as a separate credit; it should appear by {refund_deadline}.")),)),
    # ---------------------------------------------------------- account access
    _i("reset_not_arriving", "account_access", needs_order=False,
       subjects=("Password reset email not arriving", "Can't reset my password"),
       openings=("I requested a password reset 3 times and no email is coming through.",
                 "reset password email never arrives, I've checked spam",
                 "Hi, I can't log in and the forgot password link isn't sending anything."),
       ask="Could you confirm the email address you use to sign in?",
       answers=("It's {email}.", "{email}", "I use {email} for the account."),
       resolutions=(("I've sent a fresh reset link to the email on your account. It's valid for "
                     "60 minutes and comes from no-reply@northwindoutfitters.com, so please "
                     "check your spam or promotions folder too."),),
       sloppy=("try again later.", "check spam."),
       reopen=(("Still nothing arriving, even in spam.",
                ("Your email provider was rejecting our messages, so I've added your address "
                 "to our allow list and sent the link again; it should arrive within 5 "
                 "minutes.")),)),
    _i("locked_out", "account_access", needs_order=False,
       subjects=("Account locked", "Locked out of my account"),
       openings=("My account says it's locked after too many login attempts.",
                 "locked out of my account, please help",
                 "Hello, I typed my password wrong a few times and now I'm locked out."),
       ask="Could you confirm the email address you use to sign in?",
       answers=("It's {email}.", "{email}"),
       resolutions=(("I've unlocked your account, so you can sign in again now. If you don't "
                     "remember the password, use \"Forgot password\" on the sign-in page and "
                     "the reset link will arrive within a few minutes."),),
       sloppy=("It unlocks automatically after 24h.",),
       reopen=(("It locked again straight away.",
                ("An old saved password in your browser was retrying in the background. I've "
                 "unlocked the account again and sent you a reset link so you can set a new "
                 "password.")),)),
    _i("change_email", "account_access", needs_order=False,
       subjects=("Change my account email", "Update email address"),
       openings=("Can you change the email on my account from {email} to {new_email}?",
                 "I'd like my account to use {new_email} from now on instead of {email}.",
                 "how do i update my email address? new one is {new_email}"),
       ask="Could you confirm the email address currently on the account?",
       answers=("It's {email}.", "{email}"),
       resolutions=(("I've updated the sign-in email on your account to {new_email}. We've sent "
                     "a confirmation to both addresses; your order history and Trail Club "
                     "membership stay as they are."),),
       sloppy=("You can do that in settings.",),
       reopen=(("Order emails are still going to my old address.",
                ("Your newsletter and order notifications had a separate setting; I've "
                 "switched those to {new_email} as well.")),)),
    _i("merge_accounts", "account_access", needs_order=False,
       subjects=("Merge two accounts", "Duplicate accounts"),
       openings=(("I have two accounts (one with {email} and one with {new_email}). Can you "
                  "merge them?"),
                 ("I accidentally made a second account when I checked out. can you combine "
                  "them so I see all my orders?")),
       ask="Could you tell me the two email addresses the accounts are under?",
       answers=("{email} and {new_email}", "They're {email} and {new_email}."),
       resolutions=(("I've merged your two accounts into the one under {new_email}, including "
                     "your order history and saved addresses. You can sign in with that "
                     "address and your usual password."),),
       sloppy=("we cant merge accounts.",),
       reopen=(("My Trail Club membership disappeared after the merge.",
                ("I've moved your Trail Club membership onto the merged account; it renews on "
                 "{renewal_date} as before.")),)),
    _i("social_login", "account_access", needs_order=False,
       subjects=("Google sign-in not working", "Can't sign in with Google"),
       openings=("I used to sign in with Google and now it says no account found.",
                 "the 'continue with Google' button doesn't find my account anymore"),
       ask="Could you confirm the email address you use to sign in?",
       answers=("It's {email}.", "{email}"),
       resolutions=(("Your account was created with an email and password, so the Google "
                     "button won't find it. Use \"Sign in with email\" instead; I've sent you a "
                     "reset link in case you need a new password."),),
       sloppy=("use the normal login.",),
       reopen=(("I'd really prefer to use Google sign-in.",
                "I've linked your Google login to your account, so both ways work now."),)),
    # ------------------------------------------------------------- multi-step
    _i("wrong_item", "multi_step", always_ask=True, products="sized", mood="sorry",
       ask=PHOTO_ASK.replace("{photo_of}", "the item you received, with the label showing"),
       answers=PHOTO_ANSWERS,
       subjects=("Wrong item received", "Not what I ordered", "Wrong item in my parcel"),
       openings=(("I received the wrong item. I ordered the {product} in {color}, size {size}, "
                  "and got a {wrong_product} instead."),
                 ("You sent me the wrong thing! Ordered a {product} ({size}) and there's a "
                  "{wrong_product} in the box."),
                 "hi, the parcel I got today has a {wrong_product} in it, not my {product}"),
       resolutions=(("I've shipped the correct {product} ({color}, size {size}) by express "
                     "shipping today with {carrier}, tracking {tracking}, arriving by {eta}. "
                     "Here's a prepaid label to send the {wrong_product} back: {return_link}. "
                     "I've also refunded the {ship_fee} shipping to your card ending in {last4} "
                     "for the trouble."),),
       sloppy=("please return it and reorder.",),
       extra_turn=(("Great, thank you! Do I need to send the wrong one back before the new one "
                    "ships?"),
                   ("No, the {product} is already on its way. Just send the {wrong_product} "
                    "back within 30 days with the label from my last message.")),
       reopen=(("The replacement is the wrong size too!",
                ("I've had our warehouse check the stock by hand and shipped a {product} in "
                 "size {size} with {carrier} (tracking {tracking2}, arriving by {eta2}). Please "
                 "use the same label for both returns.")),)),
    _i("damaged_partial_refund", "multi_step", always_ask=True, mood="sorry",
       ask=PHOTO_ASK.replace("{photo_of}", "the damage"), answers=PHOTO_ANSWERS,
       subjects=("Item arrived damaged", "Damaged on arrival", "Broken {product}"),
       openings=("My {product} arrived damaged - {damage}.",
                 "Not happy: {damage} on the {product} I just received.",
                 "The {product} came today and {damage}. Can you help?"),
       resolutions=(("I've refunded {partial} (30% of {price}) to your card ending in {last4} "
                     "for the damage, and shipped a replacement part with {carrier} (tracking "
                     "{tracking}, arriving by {eta}). You can keep the original."),
                    ("I've shipped a replacement {product} with {carrier} (tracking {tracking}, "
                     "arriving by {eta}) and refunded {partial} to your card ending in {last4} "
                     "for the inconvenience. No need to send the damaged one back.")),
       sloppy=("damage in transit is the carriers responsibility.",),
       extra_turn=("Thanks! When will the refund show up?",
                   ("The refund of {partial} was issued today, so it should show on your card "
                    "within 3–5 business days.")),
       reopen=(("The replacement is damaged too, same problem.",
                ("I've refunded the full {price} to your card ending in {last4}; please keep "
                 "or recycle both. I've flagged the batch to our quality team.")),)),
    _i("missing_item", "multi_step", always_ask=True, mood="sorry",
       ask=PHOTO_ASK.replace("{photo_of}", "the packing slip"), answers=PHOTO_ANSWERS,
       subjects=("Item missing from my order", "Parcel incomplete"),
       openings=("My package came but the {product2} was missing. The rest is fine.",
                 "Only got half my order?? no {product2} in the box",
                 "Hi, the {product2} wasn't in my parcel even though I was charged for it."),
       resolutions=(("I've checked order {order}: the {product2} was missed at packing. I've "
                     "shipped it today with {carrier} (tracking {tracking}, arriving by {eta}) "
                     "and refunded the {ship_fee} shipping to your card ending in {last4} for "
                     "the trouble."),),
       sloppy=("Everything was shipped, please check the box again.",),
       extra_turn=("Perfect. Will I get a separate shipping email?",
                   ("Yes, {carrier} will email you the tracking ({tracking}) today, and you'll "
                    "get a delivery notification too.")),
       reopen=(("The {product2} still hasn't arrived.",
                ("I've refunded {price2} for the {product2} to your card ending in {last4} and "
                 "opened a trace with {carrier}; if it turns up, it's yours to keep.")),)),
    _i("wrong_size_late", "multi_step", always_ask=True, products="sized", mood="sorry",
       subjects=("Late and wrong size", "Express order arrived late - wrong size"),
       openings=(("My order finally arrived a week late and it's the wrong size ({wrong_size} "
                  "instead of {size}). I paid {express_fee} for express shipping!"),
                 ("Paid {express_fee} for express and the {product} came late AND in "
                  "{wrong_size}. I ordered {size}.")),
       resolutions=(("I've refunded the {express_fee} express shipping fee to your card ending "
                     "in {last4}, and shipped the {product} in size {size} by express today "
                     "with {carrier} (tracking {tracking}, arriving by {eta}). Please send the "
                     "size {wrong_size} back with this prepaid label: {return_link}."),),
       sloppy=("Delivery times are not guaranteed.",),
       extra_turn=("Thanks. Can I keep the wrong one until the new one arrives?",
                   "Of course, there's no rush: the label is valid for 30 days."),
       reopen=(("The new one hasn't arrived and the date you gave has passed.",
                ("{carrier} lost the parcel at their hub, so I've sent another {product} in "
                 "size {size} overnight (tracking {tracking2}, arriving by {eta2}).")),)),
    _i("damaged_box_refund_or_reship", "multi_step", always_ask=True, mood="sorry",
       ask=PHOTO_ASK.replace("{photo_of}", "the damaged item"), answers=PHOTO_ANSWERS,
       subjects=("Box arrived crushed", "Part of my order is broken"),
       openings=(("The box arrived crushed. The {product} is fine but the {product2} is "
                  "broken."),
                 "parcel was smashed, {product2} is broken, {product} ok"),
       resolutions=(("I've refunded {price2} for the {product2} to your card ending in {last4} "
                     "and shipped a replacement {product2} with {carrier} (tracking {tracking}, "
                     "arriving by {eta}); if you'd rather keep the refund only, just refuse the "
                     "parcel. I've also reported the damage to {carrier}."),),
       sloppy=("Please contact {carrier} about damage.",),
       extra_turn=("Do I need to send the broken one back?",
                   "No, please recycle it; the photo is all we need."),
       reopen=(("The replacement {product2} arrived broken as well.",
                ("I'm sorry. I've sent a third one in reinforced packaging (tracking "
                 "{tracking2}, arriving by {eta2}) and added a $20.00 store credit to your "
                 "account.")),)),
)

ESCALATION_INTENTS = {
    "billing_dispute": _i("chargeback", "billing_disputes", mood="sorry",
                          subjects=("Chargeback for order {order}", "Dispute with my bank",
                                    "Refund not received - disputing"),
                          openings=CHARGEBACK_OPENINGS, resolutions=()),
    "billing_amount": _i("large_charge", "billing_disputes", mood="sorry",
                         subjects=("Wrong charge on my card", "Problem with a charge",
                                   "Overcharged for order {order}"),
                         openings=BIG_AMOUNT_OPENINGS, resolutions=()),
    "trust_safety": _i("account_takeover", "account_access", needs_order=False, mood="sorry",
                       subjects=("Can't get into my account", "Account security problem",
                                 "Urgent - my account"),
                       openings=TS_OPENINGS, resolutions=()),
}
DELAYED_BASES = {"billing_dispute": ("double_charge", "promo_not_applied", "shipping_charged"),
                 "trust_safety": ("reset_not_arriving", "locked_out")}


# ------------------------------------------------------------------------------ helpers
def _money(value: float) -> str:
    return f"${value:,.2f}"


def _day(value: datetime) -> str:
    return f"{value:%A}, {value:%B} {value.day}"


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _cday(rng: random.Random, value: datetime) -> str:
    """A date the way a customer writes it."""
    return rng.choice((f"{value:%B} {value.day}", f"{value:%b} {value.day}",
                       f"{value.month}/{value.day}", f"the {_ordinal(value.day)}", f"{value:%A}"))


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _tracking(rng: random.Random, carrier: str) -> str:
    digits = lambda k: "".join(rng.choice("0123456789") for _ in range(k))
    if carrier == "UPS":
        return "1Z" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTVWXYZ") for _ in range(6)) \
            + digits(10)
    return {"FedEx": digits(12), "USPS": "9400" + digits(18), "DHL": digits(10)}[carrier]


def _product(rng: random.Random, kind: str) -> tuple[str, float, str]:
    if kind == "sized":
        return rng.choice(SIZED)
    pool = SIZED + GEAR
    if kind == "any" and rng.random() < 0.08:
        return rng.choice(BIG)  # big-ticket items outside billing never escalate
    return rng.choice(pool)


def _size(rng: random.Random, kind: str) -> tuple[str, str]:
    """(the size wanted, a larger size that did not fit)."""
    sizes = SHOE_SIZES if kind == "footwear" else APPAREL_SIZES
    first = rng.randrange(len(sizes) - 1)
    second = min(first + rng.choice((1, 1, 2)), len(sizes) - 1)
    return sizes[first], sizes[second]


def _customer(rng: random.Random) -> dict[str, str]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    plain = lambda s: s.lower().replace("á", "a").replace("í", "i")
    handle = rng.choice((f"{plain(first)}.{plain(last)}", f"{plain(first)}{rng.randint(1, 99)}",
                         f"{plain(first)[0]}{plain(last)}", f"{plain(first)}_{plain(last)[:3]}"))
    area = rng.choice(AREA_CODES)
    line = f"01{rng.randint(0, 99):02d}"
    phone = rng.choice((f"({area}) 555-{line}", f"{area}-555-{line}", f"+1 {area} 555 {line}",
                        f"{area}.555.{line}"))
    return {"first": first, "last": last, "full": f"{first} {last}",
            "email": f"{handle}@{rng.choice(EMAIL_DOMAINS)}",
            "new_email": f"{plain(first)}.{plain(last)}{rng.randint(1, 9)}@"
                         f"{rng.choice(EMAIL_DOMAINS)}",
            "alt_email": f"{plain(first)}{plain(last)[0]}@{rng.choice(EMAIL_DOMAINS)}",
            "phone": phone}


def _slots(rng: random.Random, created: datetime, intent: _Intent) -> dict[str, str]:
    """Every slot any template may use, for one ticket."""
    slots = _customer(rng)
    name, price, kind = _product(rng, "sized" if intent.products == "sized" else
                                 ("small" if intent.products == "small" else "any"))
    others = [p for p in GEAR + SIZED if p[0] != name]
    name2, price2, _ = rng.choice(others)
    wrong = rng.choice([p for p in SIZED + GEAR if p[0] != name])[0]
    big_name, big_price, _ = rng.choice(BIG)
    size, wrong_size = _size(rng, kind)
    carrier = rng.choice(CARRIERS)
    promo, pct = rng.choice(PROMOS)
    order_date = created - timedelta(days=rng.randint(3, 12))
    ship_date = order_date + timedelta(days=rng.randint(1, 2))
    delivered = created - timedelta(days=rng.randint(1, 2))
    return_date = created - timedelta(days=rng.randint(3, 9))
    needby = created + timedelta(days=rng.randint(6, 12))
    town, state, zip3 = rng.choice(TOWNS)
    ship_fee = rng.choice((6.95, 8.95, 12.50))
    sale = round(price * rng.choice((0.7, 0.75, 0.8)), 2)
    slots.update(
        order=f"NW-{rng.randint(100000, 999999)}", product=name, price=_money(price),
        product2=name2, price2=_money(price2), wrong_product=wrong, size=size,
        wrong_size=wrong_size, color=rng.choice(COLORS), carrier=carrier,
        tracking=_tracking(rng, carrier), tracking2=_tracking(rng, carrier),
        city=rng.choice(HUB_CITIES), order_date=_day(order_date),
        c_order_date=_cday(rng, order_date), ship_date=_day(ship_date),
        eta=_day(created + timedelta(days=rng.randint(2, 5))),
        eta2=_day(created + timedelta(days=rng.randint(1, 2))),
        c_eta_missed=_cday(rng, created - timedelta(days=rng.randint(1, 3))),
        delivered_date=_day(delivered), c_delivered=_cday(rng, delivered),
        trace_ref=f"TR-{rng.randint(10000, 99999)}",
        trace_deadline=_day(created + timedelta(days=3)),
        new_address=f"{rng.randint(12, 4899)} {rng.choice(STREETS)}, {town}, {state} "
                    f"{zip3}{rng.randint(10, 99)}",
        needby=_day(needby), c_needby=_cday(rng, needby), needby_short=f"{needby:%A}",
        return_link="https://northwindoutfitters.com/returns/{order}",
        return_date=_day(return_date),
        c_return_sent=_cday(rng, return_date - timedelta(days=rng.randint(2, 4))),
        refund_date=_day(return_date + timedelta(days=1)),
        refund_deadline=_day(created + timedelta(days=3)),
        c_month=f"{created - timedelta(days=45):%B}",
        last4=f"{rng.randint(0, 9999):04d}", promo=promo, pct=str(pct),
        discount=_money(round(price * pct / 100, 2)), ship_fee=_money(ship_fee),
        express_fee=_money(rng.choice((19.95, 24.95))), sale_price=_money(sale),
        diff=_money(round(price - sale, 2)), partial=_money(round(price * 0.3, 2)),
        damage=rng.choice(DAMAGES), img=f"IMG_{rng.randint(1000, 9999)}.jpg",
        renewal_date=_day(created + timedelta(days=rng.randint(20, 330))),
        ref=str(rng.randint(100000, 999999)), big_product=big_name,
        big_price=_money(big_price), big_double=_money(big_price * 2),
    )
    slots["return_link"] = slots["return_link"].replace("{order}", slots["order"])
    return slots


def _typos(rng: random.Random, text: str) -> str:
    words = [w for w in TYPOS if re.search(rf"\b{w}\b", text)]
    for word in rng.sample(words, min(len(words), rng.randint(1, 2))):
        text = re.sub(rf"\b{word}\b", TYPOS[word], text, count=1)
    return text


# ------------------------------------------------------------------------------ planning
@dataclass
class _Plan:
    created: datetime
    category: str
    channel: str
    escalation: str | None = None  # billing_dispute / billing_amount / trust_safety / legal / press
    state: str = "resolved"  # resolved / open / pending
    sloppy: bool = False
    reopened: bool = False
    autoreply: bool = False
    csat: str | None = None


def _pick(rng: random.Random, pool: list[int], share: float, total: int) -> list[int]:
    return rng.sample(pool, min(len(pool), round(share * total)))


def _plan(n: int, rng: random.Random) -> list[_Plan]:
    span = (WINDOW_END - WINDOW_START).total_seconds()
    times = sorted(WINDOW_START + timedelta(seconds=int(rng.random() * span)) for _ in range(n))
    counts = {c: int(share * n) for c, share in CATEGORY_SHARES.items()}
    by_remainder = sorted(CATEGORY_SHARES, key=lambda c: CATEGORY_SHARES[c] * n - counts[c],
                          reverse=True)
    for c in by_remainder[: n - sum(counts.values())]:
        counts[c] += 1
    categories = [c for c, k in counts.items() for _ in range(k)]
    rng.shuffle(categories)
    plans = [_Plan(created=t, category=c,
                   channel="email" if rng.random() < (0.7 if c == "multi_step" else 0.58)
                   else "chat")
             for t, c in zip(times, categories)]
    idx = range(n)
    billing = [i for i in idx if plans[i].category == "billing_disputes"]
    for k, i in enumerate(_pick(rng, billing, 0.36, len(billing))):
        plans[i].escalation = "billing_dispute" if k % 2 == 0 else "billing_amount"
    account = [i for i in idx if plans[i].category == "account_access"]
    for i in _pick(rng, account, 0.30, len(account)):
        plans[i].escalation = "trust_safety"
    free = [i for i in idx if plans[i].escalation is None]
    for k, i in enumerate(_pick(rng, free, 0.02, n)):
        plans[i].escalation = "legal" if k % 5 < 3 else "press"
    recent = [i for i in idx if i >= int(n * 0.9) and plans[i].escalation is None]
    for k, i in enumerate(_pick(rng, recent, 0.03, n)):
        plans[i].state = "open" if k % 2 == 0 else "pending"
    calm = [i for i in idx if plans[i].escalation is None and plans[i].state == "resolved"]
    for i in _pick(rng, calm, 0.06, n):
        plans[i].sloppy = True
        plans[i].csat = "bad"
    for i in _pick(rng, calm, 0.04, n):
        plans[i].reopened = True
    emails = [i for i in idx if plans[i].channel == "email"]
    for i in _pick(rng, emails, 0.02, n):
        plans[i].autoreply = True
    rated = [i for i in idx if plans[i].state == "resolved" and not plans[i].sloppy]
    for i in _pick(rng, rated, 0.60, n):
        plans[i].csat = "good"
    return plans


# ------------------------------------------------------------------------------ tickets
class _Ticket:
    """Builds one ticket's conversation with a running clock."""

    def __init__(self, tid: str, plan: _Plan, rng: random.Random, slots: dict[str, str]) -> None:
        self.tid, self.plan, self.rng, self.slots = tid, plan, rng, slots
        self.email = plan.channel == "email"
        self.clock = plan.created + timedelta(seconds=rng.randint(5, 45))
        self.messages: list[dict[str, Any]] = []
        self.agent = SLOPPY_AGENT if plan.sloppy and rng.random() < 0.7 else \
            rng.choices(list(AGENTS), weights=AGENT_WEIGHTS)[0]
        self.pii_done = False
        slots["agent"] = AGENTS[self.agent]

    def fill(self, template: str) -> str:
        return template.format_map(self.slots)

    def _add(self, role: str, text: str, author: str | None) -> None:
        self.messages.append({"role": role, "author_id": author, "text": text,
                              "created_at": _iso(self.clock)})

    def wait(self, replying: str) -> None:
        r = self.rng
        if not self.email:
            self.clock += timedelta(seconds=r.randint(40, 360))
        elif replying == "agent":
            self.clock += timedelta(minutes=r.randint(20, 26 * 60))
        else:
            self.clock += timedelta(minutes=r.randint(10, 30 * 60))

    def customer(self, body: str, first: bool = False, raw: str = "") -> None:
        """A customer message: the filled body, light noise, sometimes PII; ``raw`` is appended
        untouched (escalation triggers are never mangled by typos)."""
        r = self.rng
        if self.messages:
            self.wait("customer")
        parts = [_typos(r, body) if r.random() < 0.25 else body]
        if not self.pii_done and r.random() < (0.35 if first else 0.1):
            self.pii_done = True
            parts.append(self.fill(r.choice((
                "You can call me on {phone} if that's easier.",
                "Please reply to {alt_email}, I don't check this inbox much.",
                "My number is {phone}.", "(account email: {email})"))))
        text = " ".join(p for p in parts + [raw] if p)
        if not self.email:
            if r.random() < 0.3:
                text = text[:1].lower() + text[1:]
            if first and r.random() < 0.3 and self.plan.category != "multi_step":
                self._add("customer", r.choice(("hi", "hello", "Hi there")), None)
                self.clock += timedelta(seconds=r.randint(5, 40))
        elif first:
            greet = r.choice(("Hi,\n\n", "Hello,\n\n", "Hi Northwind team,\n\n", "",
                              "Hi there,\n\n"))
            if text.lower().startswith(("hi", "hello", "hey")):
                greet = ""
            sign = r.choice(("\n\nThanks,\n{first}", "\n\nThank you,\n{full}", "\n\n{first}", "",
                             "\n\nRegards,\n{full}", "\n\nthanks\n{first}"))
            text = greet + text + self.fill(sign)
        self._add("customer", text, None)

    def agent_msg(self, body: str, opener: str = "thanks", closing: str = "", author: str = "",
                  ) -> None:
        r = self.rng
        self.wait("agent")
        author = author or self.agent
        name = AGENTS[author]
        open_text = r.choice(OPENERS[opener]) if opener else ""
        close = closing or r.choice(CLOSINGS["email" if self.email else "chat"])
        body = self.fill(body)
        if self.email:
            text = f"Hi {self.slots['first']},\n\n{open_text}{body}\n\n{close}\n\n"
        else:
            text = f"Hi {self.slots['first']}! {open_text}{body} {close}\n\n"
        self._add("agent", text + SIGNATURE.format(agent=name), author)

    def sloppy_msg(self, options: tuple[str, ...]) -> None:
        self.wait("agent")
        text = self.fill(self.rng.choice(options or SLOPPY_GENERIC))
        if self.rng.random() < 0.4:
            text += f"\n-{AGENTS[self.agent].lower()}"
        self._add("agent", text, self.agent)

    def note(self, text: str) -> None:
        self.clock += timedelta(seconds=self.rng.randint(10, 120))
        self._add("note", text, self.agent)


def _intent_for(plan: _Plan, rng: random.Random) -> tuple[_Intent, bool]:
    """The intent whose texts the ticket uses, and whether an escalation comes later."""
    esc = plan.escalation
    if esc in DELAYED_BASES and rng.random() < 0.4:
        name = rng.choice(DELAYED_BASES[esc])
        return next(i for i in INTENTS if i.name == name), True
    if esc in ESCALATION_INTENTS:
        return ESCALATION_INTENTS[esc], False
    options = [i for i in INTENTS if i.category == plan.category]
    later = plan.category == "multi_step" or rng.random() < 0.6  # multi-step: ask first
    return rng.choice(options), esc in ("legal", "press") and later


def _build(tid: str, plan: _Plan, rng: random.Random) -> dict[str, Any]:
    intent, delayed = _intent_for(plan, rng)
    t = _Ticket(tid, plan, rng, _slots(rng, plan.created, intent))
    esc = plan.escalation
    openings = intent.openings
    if plan.state == "pending" and intent.needs_order:
        openings = tuple(o for o in openings if "{order}" not in o) or openings
    opening_t = rng.choice(openings)
    trigger = ""
    if esc in ("legal", "press") and not delayed:
        trigger = (rng.choice(NO_REPLY) + rng.choice(LEGAL_SENTENCES) if esc == "legal"
                   else rng.choice(PRESS_SENTENCES))
    t.customer(t.fill(opening_t), first=True, raw=trigger)
    if plan.autoreply:
        t.clock += timedelta(seconds=rng.randint(5, 30))
        t._add("agent", AUTOREPLY_TEXT.format(tid=tid), AUTOREPLY_AUTHOR)
    asks = intent.always_ask or (intent.needs_order and "{order}" not in opening_t)
    if plan.state == "open":
        if rng.random() < 0.5:
            t.customer(rng.choice(OPEN_NUDGES))
    elif plan.state == "pending":
        t.agent_msg(intent.ask, opener=intent.mood, closing=rng.choice(CLOSINGS["ask"]))
    elif plan.sloppy:
        t.sloppy_msg(intent.sloppy)
        if rng.random() < 0.5:
            t.customer(rng.choice(COMPLAINTS))
            if rng.random() < 0.6:
                t.sloppy_msg(SLOPPY_GENERIC)
    elif esc and not delayed:
        _handoff(t, esc, opener="sorry")
    else:
        answered = False
        if asks:
            t.agent_msg(intent.ask, opener=intent.mood, closing=rng.choice(CLOSINGS["ask"]))
            answer = t.fill(rng.choice(intent.answers))
            if delayed and esc in ("legal", "press") and rng.random() < 0.5:
                t.customer(answer, raw=rng.choice(FRUSTRATED) + rng.choice(
                    LEGAL_SENTENCES if esc == "legal" else PRESS_SENTENCES))
                _handoff(t, esc, opener="followup")
                return _record(t, intent)
            t.customer(answer)
            answered = True
        t.agent_msg(rng.choice(intent.resolutions),
                    opener="followup" if answered else intent.mood)
        if delayed and esc:
            if esc in ("legal", "press"):
                raw = rng.choice(FRUSTRATED) + rng.choice(
                    LEGAL_SENTENCES if esc == "legal" else PRESS_SENTENCES)
            else:
                raw = rng.choice(CHARGEBACK_FOLLOWUPS if esc == "billing_dispute" else TS_FOLLOWUPS)
            t.customer("", raw=raw)
            _handoff(t, esc, opener="again")
            return _record(t, intent)
        if intent.category == "multi_step" and rng.random() < 0.6:
            t.note(t.fill(rng.choice(("Replacement shipped {tracking}; refund logged RF-{ref}.",
                                      "Carrier claim opened with {carrier}; refund RF-{ref}."))))
        if plan.reopened:
            pass  # the customer comes back with the follow-up below instead
        elif intent.extra_turn and rng.random() < 0.4:
            t.customer(t.fill(intent.extra_turn[0]))
            t.agent_msg(intent.extra_turn[1], opener="")
        elif rng.random() < (0.35 if t.email else 0.5):
            t.customer(t.fill(rng.choice(THANKS)))
    if plan.reopened:
        follow, fix = rng.choice(intent.reopen)
        t.clock += timedelta(days=rng.randint(2, 6))
        t.customer(t.fill(follow))
        if plan.sloppy:
            t.sloppy_msg(SLOPPY_GENERIC)
        else:
            if rng.random() < 0.4:
                t.agent = rng.choice([a for a in AGENTS if a not in (t.agent, SLOPPY_AGENT)])
            t.agent_msg(fix, opener="again")
    return _record(t, intent)


def _handoff(t: _Ticket, esc: str, opener: str) -> None:
    if esc in ("legal", "press"):
        opener = ""  # these hand-offs open with their own acknowledgement
    t.agent_msg(t.rng.choice(HANDOFFS[esc]), opener=opener,
                closing=t.rng.choice(CLOSINGS["handoff"]))
    if t.rng.random() < 0.7:
        t.note(f"Handed off to {ESCALATION_GROUP[esc]} ({ESCALATION_REASON[esc]}).")


def _record(t: _Ticket, intent: _Intent) -> dict[str, Any]:
    plan, rng = t.plan, t.rng
    subject = t.fill(rng.choice(intent.subjects))
    if not t.email and rng.random() < 0.5:
        subject = f"Chat with {t.slots['full']}"
    if plan.state != "resolved":
        status = plan.state
    else:
        status = "closed" if EXPORT_AT - plan.created > timedelta(days=28) else "solved"
    tags = [intent.name] + (["trail_club_member"] if rng.random() < 0.1 else [])
    return {
        "id": t.tid, "created_at": _iso(plan.created), "subject": subject,
        "channel": plan.channel, "category": plan.category, "tags": tags,
        "messages": t.messages, "status": status,
        "escalated": plan.escalation is not None, "reopened": plan.reopened,
        "csat": plan.csat,
        "escalation_group": ESCALATION_GROUP[plan.escalation] if plan.escalation else None,
    }


# ------------------------------------------------------------------------------ public API
def generate_demo_tickets(n: int = 600, seed: int = 7) -> list[dict[str, Any]]:
    """The Northwind Outfitters demo account: ``n`` interaction v1 records, same for a seed."""
    if n < 0:
        raise ValueError(f"n must be 0 or more, got {n}")
    rng = random.Random(seed)
    plans = _plan(n, rng)
    width = max(5, len(str(n)))
    records = [_build(f"nw-{i + 1:0{width}d}", plan, random.Random(seed * 1_000_003 + i))
               for i, plan in enumerate(plans)]
    for _ in range(n // 6):  # ascending-ish, not sorted: a few near neighbours swap places
        i = rng.randrange(max(n - 3, 1))
        j = min(i + rng.randint(1, 3), n - 1)
        records[i], records[j] = records[j], records[i]
    return records


def write_demo_dataset(path: Path, n: int = 600, seed: int = 7) -> Path:
    """Write the demo account as UTF-8 JSONL (one ticket per line) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for record in generate_demo_tickets(n, seed):
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path
