"""Reading a message before any search: input validation, crisis (the learned reader and its floor) and small talk."""

import pytest

from retrieval.crisis import FLOOR, units
from retrieval.safety import MAX_CHARS, check_input, message, smalltalk_kind, topic_of

CRISIS = [
    "I'm going to kill myself",
    "i don't want to be here anymore",
    "everyone would be better off without me",
    "I keep thinking about ending my life",
    "my boyfriend took too much ketamine and won't wake up",
    "she is not breathing after snorting ketamine",
    "I want to hurt myself",
    "i am having suicidal thoughts, can ketamine help?",
]
NOT_CRISIS = [
    "what are the side effects of ketamine?",
    "what are ketamine withdrawal symptoms?",
    "can ketamine cause seizures or high blood pressure?",
    "is ketamine dangerous for people with heart problems?",
    "why do people feel detached from their bodies on ketamine?",
    "how long until I can go back to work after treatment?",
]


@pytest.mark.parametrize("text", CRISIS)
def test_crisis_detected(engine, text):
    assert engine.read(text).crisis


@pytest.mark.parametrize("text", NOT_CRISIS)
def test_ordinary_questions_are_not_crisis(engine, text):
    assert not engine.read(text).crisis


def test_a_danger_sign_in_the_middle_of_a_long_question_is_read_alone():
    message_ = ("quick question about sessions, how long does each infusion take and can i drive home after. "
                "honestly i have been saving up my pills for a while now. also does insurance cover it")
    parts = units(message_)
    assert parts[0] == message_ and "honestly i have been saving up my pills for a while now." in parts


@pytest.mark.parametrize("text", ["I'm going to kill myself tonight", "he is not breathing", "i don't want to wake up tomorrow"])
def test_the_floor_catches_explicit_phrases(text):
    assert FLOOR.search(text)


@pytest.mark.parametrize("text", ["this depression is killing me", "does ketamine reduce suicidal thoughts?",
                                  "my anxiety won't respond to anything", "dying to know if it works"])
def test_the_floor_leaves_figures_of_speech_and_research_to_the_model(text):
    assert not FLOOR.search(text)


def test_a_spanish_crisis_gets_spanish_resources():
    assert "988" in message("crisis", "es") and "oprime el 2" in message("crisis", "es")
    assert message("crisis", "other") == message("crisis", "en")


@pytest.mark.parametrize(
    "text,kind",
    [("Hello!", "greeting"), ("hi there", "greeting"), ("thank you so much", "thanks"), ("ok thanks", "thanks"),
     ("Who are you?", "about"), ("bye", "bye"), ("hi, is ketamine addictive?", None), ("thanks, but does it hurt?", None)],
)
def test_smalltalk(text, kind):
    assert smalltalk_kind(text) == kind


@pytest.mark.parametrize(
    "raw,problem",
    [("", "empty"), ("   \n\t", "empty"), ("?!?", "no_words"), ("x" * (MAX_CHARS + 1), "too_long"),
     ("side\x00effects", "control"), ("safe \ud800 while pregnant", "control"), (None, "not_text"), (42, "not_text"), ("<b></b>", "empty")],
)
def test_invalid_inputs(raw, problem):
    assert check_input(raw)[0] == problem


def test_normalisation_strips_tags_and_folds_full_width():
    assert check_input("<img src=x onerror=alert(1)>bladder") == (None, "bladder")
    assert check_input("<script>alert(1)</script>is ketamine <b>addictive</b>?<STYLE>p {}</STYLE>") == (None, "is ketamine addictive ?")
    assert check_input("ｋｅｔａｍｉｎｅ ｓｉｄｅ ｅｆｆｅｃｔｓ") == (None, "ketamine side effects")


@pytest.mark.parametrize("typed, searched", [
    ("IS KETAMINE SAFE WITH MY SSRI?", "is ketamine safe with my ssri?"),  # a message in capitals
    ("Is ketamine safe with my SSRI?", "Is ketamine safe with my SSRI?"),  # an acronym inside a sentence stays
    ("PTSD?", "PTSD?"),  # too short to tell shouting from an acronym
])
def test_a_message_in_capitals_is_searched_in_lower_case(typed, searched):
    assert check_input(typed) == (None, searched)


@pytest.mark.parametrize("message, topic", [
    ("Hi! Is ketamine addictive? Thanks!", "Is ketamine addictive?"),
    ("hey there, quick question: does ketamine cause nausea? thx in advance", "does ketamine cause nausea?"),
    ("Dear team, is it safe while pregnant? Many thanks.", "is it safe while pregnant?"),
    ("Thanks for the answer. Is it addictive?", "Is it addictive?"),
    ("Hi, hope you're well. Sorry if this is a dumb question, but does it hurt?", "does it hurt?"),
    ("Hey, question for you: can I drive afterwards? Any info appreciated.", "can I drive afterwards?"),
    ("Could you please tell me, is it safe?", "is it safe?"),
    ("Is it addictive? I'm asking for my mother.", "Is it addictive?"),
    ("Asking for a friend: does it show up on drug tests", "does it show up on drug tests"),
    ("Hi, who are you?", "who are you?"),
    ("hello", "hello"),  # nothing else: the message itself (small talk)
    ("Question about dosing", "Question about dosing"),  # "question" opens a topic here, not a preamble
    ("High doses of ketamine, are they dangerous", "High doses of ketamine, are they dangerous"),
])
def test_greetings_and_thanks_around_a_question_are_not_searched(message, topic):
    assert topic_of(message) == topic


def test_the_floor_never_fires_on_a_bank_message_that_is_no_crisis(settings):
    """The floor is for phrases that mean danger whatever surrounds them: not one ordinary, unanswerable or
    near-crisis message of the bank may contain one ("hurt myself" was asked about an intake form)."""
    from retrieval.bank import load_bank

    entries = load_bank(settings.bank_dir)
    assert [e.question for e in entries if e.kind != "crisis" and FLOOR.search(e.question)] == []
    assert sum(bool(FLOOR.search(e.question)) for e in entries if e.kind == "crisis") >= 50
