"""Reading a message before any search: is it valid, a crisis, or small talk? Fixed texts only."""

from __future__ import annotations

import re
import unicodedata

MAX_CHARS = 1000

STAFF = "the clinic's staff"
CLINICIAN = "your clinician"
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
    "unsure": "I am not sure the articles answer that. Did you mean one of these?",
    "in_english": "The articles I quote are in English; here are the passages that answer your question.",
    # a question the articles do not answer, by what it asks about (bank.TOPICS)
    "cost": f"The articles I quote do not cover prices, insurance or payment. Please ask {STAFF}: they can tell you what treatment costs and what your insurance covers.",
    "appointment": f"The articles I quote do not cover appointments, opening hours or visits. Please ask {STAFF}.",
    "location": f"The articles I quote do not say where treatment is offered. Please ask {STAFF}.",
    "credentials": f"The articles I quote do not describe this clinic or its team. Please ask {STAFF}.",
    "dose": f"The articles I quote do not give doses or schedules, and these depend on your own health. Please ask {CLINICIAN}.",
    "medication": f"The articles I quote do not cover that medicine or how it combines with ketamine. Please ask {CLINICIAN} or your pharmacist before changing anything.",
    "spravato": f"The articles I quote do not cover Spravato (esketamine nasal spray) in detail. Please ask {CLINICIAN}.",
    "driving": f"The articles I quote do not say when you can drive, work or travel after a session. Please ask {CLINICIAN}; plan a ride home until they tell you otherwise.",
    "eligibility": f"Whether treatment suits you depends on your own health, which the articles cannot judge. Please ask {CLINICIAN}.",
    "off_topic": "I can only answer questions about ketamine therapy, by quoting published articles.",
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

# The same in Spanish, for a message the language model reads as Spanish (fixed texts, never generated).
PERSONAL_ES = "el personal de la clínica"
CLINICIAN_ES = "tu médico"
MESSAGES_ES = {
    "crisis": (
        "Si tú o alguien cerca de ti puede estar en peligro, busca ayuda ahora. "
        "En EE. UU., llama al 911 en una emergencia (una sobredosis, alguien que se desmayó o no despierta), "
        "o llama al 988 y oprime el 2 para hablar en español con la Línea 988 de Prevención del Suicidio y Crisis, "
        "gratis y disponible las 24 horas; también puedes enviar la palabra AYUDA por mensaje de texto al 988. "
        "Fuera de EE. UU., llama al número de emergencias de tu país. "
        "Este chatbot solo cita artículos y no puede ayudar en una emergencia."
    ),
    "no_match": (
        "No encontré una respuesta a eso en los artículos que cito, así que no voy a adivinar. "
        "Por favor, pregunta al personal de la clínica o a tu médico."
    ),
    "unsure": "No estoy seguro de que los artículos respondan a eso. ¿Quisiste decir alguna de estas preguntas?",
    "in_english": "Los artículos que cito están en inglés; estos son los pasajes que responden a tu pregunta.",
    "cost": f"Los artículos que cito no hablan de precios, seguros ni pagos. Por favor, pregunta a {PERSONAL_ES}.",
    "appointment": f"Los artículos que cito no hablan de citas ni horarios. Por favor, pregunta a {PERSONAL_ES}.",
    "location": f"Los artículos que cito no dicen dónde se ofrece el tratamiento. Por favor, pregunta a {PERSONAL_ES}.",
    "credentials": f"Los artículos que cito no describen esta clínica ni a su equipo. Por favor, pregunta a {PERSONAL_ES}.",
    "dose": f"Los artículos que cito no dan dosis ni horarios, y estos dependen de tu salud. Por favor, pregunta a {CLINICIAN_ES}.",
    "medication": f"Los artículos que cito no hablan de ese medicamento ni de cómo se combina con la ketamina. Por favor, pregunta a {CLINICIAN_ES} o a tu farmacéutico.",
    "spravato": f"Los artículos que cito no hablan en detalle de Spravato (esketamina en aerosol nasal). Por favor, pregunta a {CLINICIAN_ES}.",
    "driving": f"Los artículos que cito no dicen cuándo puedes manejar, trabajar o viajar después de una sesión. Por favor, pregunta a {CLINICIAN_ES}.",
    "eligibility": f"Si el tratamiento es adecuado para ti depende de tu salud, y los artículos no pueden juzgarlo. Por favor, pregunta a {CLINICIAN_ES}.",
    "off_topic": "Solo puedo responder preguntas sobre la terapia con ketamina, citando artículos publicados.",
}


def message(key: str, lang: str = "en") -> str:
    """The fixed text for a status or topic, in Spanish for a Spanish message where there is one."""
    return MESSAGES_ES.get(key, MESSAGES[key]) if lang == "es" else MESSAGES[key]


DISCLAIMER = (
    "This chatbot quotes published articles word for word; it does not write its own answers "
    "and is not medical advice. In an emergency call 911, or call or text 988."
)

# Control characters, and lone UTF-16 surrogates (valid in JSON escapes, not in text; the tokenizers reject them)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_TAG = re.compile(r"<[^<>]{0,200}>")
# A pasted script or style block: its code is no part of the question (the tags alone leave "alert(1)")
_CODE_BLOCK = re.compile(r"<(script|style)\b[^<>]{0,200}>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)

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
    left. They count as topic words the sources lack (`eval` measures them: evaluate.WRAPPERS)."""
    topic = text
    while (m := _OPENING.match(topic)) and m.end() < len(topic):
        topic = topic[m.end() :]
    while (m := _CLOSING.search(topic)) and m.start() > 0:
        topic = topic[: m.start()] + ("?" if "?" in m.group() else "")
    return topic if any(ch.isalpha() for ch in topic) else text


SHOUTING_LETTERS = 8  # fewer letters in capitals may be an acronym alone ("PTSD?")


def normalize(text: str) -> str:
    """NFKC (full-width letters, ligatures), typographic apostrophes, collapsed white space, and a
    message typed in capitals lower-cased: e5 reads case, and ALL CAPS questions lost the answer."""
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


def smalltalk_kind(text: str) -> str | None:
    """The kind of small talk when the whole message is a greeting, thanks, goodbye or 'who are you'."""
    t = re.sub(r"[\s!.?,:;)(]+$", "", text.lower()).strip()
    for kind, pattern in _SMALLTALK:
        if pattern.search(t):
            return kind
    return None
