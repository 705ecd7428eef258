"""Reading a message before any search: is it valid, a crisis, or small talk? Fixed texts only."""

from __future__ import annotations

import re
import unicodedata

MAX_CHARS = 1000

MESSAGES = {
    "crisis": (
        "If you or someone near you may be in danger, please get help now. "
        "In the US, call 911 for an emergency (an overdose, someone who has collapsed or will not wake up), "
        "or call or text 988 to reach the 988 Suicide & Crisis Lifeline, free and open 24/7. "
        "Outside the US, call your local emergency number. "
        "This chatbot only quotes articles and cannot help in an emergency."
    ),
    "no_match": (
        "I could not find an answer to that in the articles I quote from, so I won't guess. "
        "Please ask the clinic's staff or your healthcare provider. "
        "I can only quote published articles about ketamine therapy; they do not cover things like "
        "prices, doses, appointments or other medicines."
    ),
    "greeting": (
        "Hello! I answer questions about ketamine therapy by quoting passages from published articles, "
        "each with its source. Try: \"Can ketamine help with alcohol addiction?\" "
        "I am not a doctor, and nothing here is medical advice."
    ),
    "thanks": "You're welcome. Ask another question any time; for advice about your own care, please talk to your clinician.",
    "about": (
        "I am a chatbot that answers questions about ketamine therapy with passages quoted word for word "
        "from published articles chosen by the clinic, each with its source. I do not write answers of my own, "
        "and nothing here is medical advice."
    ),
    "bye": "Goodbye, and take care.",
    "empty": f"Please type a question (up to {MAX_CHARS:,} characters).",
    "too_long": f"That message is too long. Please keep your question under {MAX_CHARS:,} characters.",
    "control": "That message contains control characters I cannot read. Please type your question as plain text.",
    "no_words": f"Please type your question in words (up to {MAX_CHARS:,} characters).",
    "not_text": "Questions must be plain text.",
}

DISCLAIMER = (
    "This chatbot quotes published articles word for word; it does not write its own answers "
    "and is not medical advice. In an emergency call 911, or call or text 988."
)

# Control characters, and lone UTF-16 surrogates (valid in JSON escapes, not in text; the tokenizers reject them)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_TAG = re.compile(r"<[^<>]{0,200}>")
# A pasted script or style block: its code is no part of the question (the tags alone leave "alert(1)")
_CODE_BLOCK = re.compile(r"<(script|style)\b[^<>]{0,200}>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)

_CRISIS = re.compile(
    r"suicid|\bkill(ing)? (myself|me)\b|\bend(ing)? (it all|my (own )?life|my life|things)\b|\btake my (own )?life\b"
    r"|\b(want|wanna|going|gonna|plan(ning)?|ready) to die\b|\bwish (i was|i were|to be) dead\b"
    r"|\b(don'?t|do not|no longer) want to (live|be alive|be here|wake up|exist|go on)\b"
    r"|\bbetter off (dead|without me|if i (was|were|wasn'?t|weren'?t) (gone|dead|here|around|alive))"
    r"|\b(hurt|hurting|harm|harming|cut|cutting|injure|kill) myself\b|\bself[- ]?harm"
    r"|\bno (way out|reason to live|point (in )?living)\b|\bthinking (about|of) (dying|death|killing)\b"
    r"|\bcan'?t (go on|take (it|this) any ?more|do this any ?more)\b|\bnothing matters any ?more\b"
    r"|\b(i|she|he|they|we|you) (just )?overdosed\b|\b(i'm|im|i am|she's|he's|is|are|they're) (\w+ )?overdosing\b"
    r"|\btook (way )?too much\b|\b(won'?t|will not|can'?t|cannot|doesn'?t|does not) (wake|respond)"
    r"|\bunresponsive\b|\b(not|stopped|isn'?t|is not|aren'?t|barely) breathing\b|\bcollapsed\b|\bpassed out\b|\blips (are|turning) blue\b",
    re.I,
)

_SMALLTALK = [
    ("greeting", re.compile(r"^(hi|hello|hey|hiya|howdy|good (morning|afternoon|evening)|greetings)( there| bot)?$")),
    ("thanks", re.compile(r"^((ok(ay)?|great|cool|perfect),? )?(thanks?|thank you|thx|ty|cheers)( (so|very) much| a lot)?$")),
    ("about", re.compile(r"^(who|what) are you|^what can you do|^are you (a |an )?(bot|robot|human|person|ai|real)|^how are you")),
    ("bye", re.compile(r"^(bye|goodbye|see you|good night)$")),
]


# What a patient writes around a question: greetings and preambles before it, thanks after it.
_OPENING = re.compile(
    r"^(?:(?:hi|hello|hey|hiya|howdy|good (?:morning|afternoon|evening|day)|greetings|dear \w+)"
    r"(?: there| bot| all| everyone| doc| doctor)?(?:\s*[,.!:;-]+\s*|\s+|$)"
    r"|(?:i (?:have|had|got) a (?:quick |short |simple |few )?questions?(?: for you)?|(?:a |one )?(?:quick |short )?question(?: for you)?"
    r"|(?:i )?hope (?:you're|you are|all is) (?:well|doing well|ok|good)"
    r"|(?:i'm |i am )?asking (?:for|on behalf of) (?:my |a )\w+"
    r"|can i ask (?:you )?(?:a question|something)|sorry to bother you"
    r"|sorry if (?:this|that) is (?:a )?(?:dumb|stupid|silly|basic|naive) question(?:,? but)?"
    r"|(?:i was |i'm |just )?wondering|(?:can|could|would) you (?:please )?(?:tell me|explain)"
    r"|(?:i'?d|i would|i want(?:ed)?|i need) (?:like )?to (?:know|ask)|(?:please )?(?:tell me|explain)"
    r"|thanks?(?: you)?(?: (?:so|very) much)?(?: for [^.!?]{0,40})?)(?:\s*[,.!:;?-]+\s*|(?<=but)\s+))",
    re.I,
)
_CLOSING = re.compile(
    r"(?:\s*[,.!;-]+\s*|\s+)(?:(?:ok(?:ay)?|great|cool),? )?(?:many )?"
    r"(?:thanks?|thank you|thx|ty|cheers|much appreciated|appreciate it|please|pls"
    r"|any (?:info|information|help|advice|answers?) (?:is |would be )?(?:much |greatly )?appreciated"
    r"|(?:i'm |i am )?asking (?:for|on behalf of) (?:my |a )\w+)"
    r"(?: (?:so|very) much| a lot| in advance| for (?:your|the|any) help| for helping)?\s*[.!]*\s*$",
    re.I,
)


def topic_of(text: str) -> str:
    """The message without the greetings and preambles before its question and the thanks after it
    ("Hi! Is ketamine addictive? Thanks!" -> "Is ketamine addictive?", "Sorry if this is a dumb
    question, but ...", "... I'm asking for my mother."); the message itself when nothing else is
    left. They count as topic words the sources lack: with them around its questions the own set's
    Recall@1 fell from 0.92 to 0.62, with 31% of answerable ones refused (evaluate.WRAPPERS, none set aside)."""
    topic = text
    while (m := _OPENING.match(topic)) and m.end() < len(topic):
        topic = topic[m.end() :]
    while (m := _CLOSING.search(topic)) and m.start() > 0:
        topic = topic[: m.start()] + ("?" if "?" in m.group() else "")
    return topic if any(ch.isalpha() for ch in topic) else text


SHOUTING_LETTERS = 8  # fewer letters in capitals may be an acronym alone ("PTSD?")


def normalize(text: str) -> str:
    """NFKC (full-width letters, ligatures), typographic apostrophes, collapsed white space, and a
    message typed in capitals lower-cased: e5 reads case, and ALL CAPS questions lost the answer
    (own set Recall@1 0.92 -> 0.75, 15% of answerable ones refused; dev 0.73 -> 0.57)."""
    text = unicodedata.normalize("NFKC", text).replace("’", "'").replace("‘", "'")
    letters = [ch for ch in text if ch.isalpha()]
    if len(letters) >= SHOUTING_LETTERS and sum(ch.isupper() for ch in letters) > 0.8 * len(letters):
        text = text.lower()
    return " ".join(text.split())


def shown_back(question: object) -> str:
    """The message as the result repeats it: its repr when it is not text, a lone surrogate as U+FFFD
    (no UTF-8 response could carry it)."""
    if not isinstance(question, str):
        return repr(question)
    return question.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def check_input(question: object) -> tuple[str | None, str]:
    """(reason the input is invalid or None, the text to search with: normalized, tags removed)."""
    if not isinstance(question, str):
        return "not_text", ""
    if len(question) > MAX_CHARS:
        return "too_long", ""
    if _CONTROL.search(question):
        return "control", ""
    text = normalize(_TAG.sub(" ", _CODE_BLOCK.sub(" ", question)))
    if len(text) > MAX_CHARS:  # NFKC can make one character eighteen ("\ufdfa")
        return "too_long", ""
    if not text:
        return "empty", ""
    if not any(ch.isalpha() for ch in text):
        return "no_words", ""
    return None, text


def is_crisis(text: str) -> bool:
    return bool(_CRISIS.search(text))


def smalltalk_kind(text: str) -> str | None:
    """The kind of small talk when the whole message is a greeting, thanks, goodbye or 'who are you'."""
    t = re.sub(r"[\s!.?,:;)(]+$", "", text.lower()).strip()
    for kind, pattern in _SMALLTALK:
        if pattern.search(t):
            return kind
    return None
