"""Spelling correction of questions: what is corrected, what is left alone, and what it buys."""

import pytest
from support import ROOT

from retrieval.evaluate import evaluate, load_gold, misspell
from retrieval.spelling import Speller, english_words, source_counts

# words as the sources would have them: domain words an English dictionary lacks, and a word
# the sources use more than its English neighbour
SOURCES = "ketamine esketamine bladder dissociation glutamate addiction addiction addition"


@pytest.fixture(scope="module")
def speller():
    return Speller(english_words(), source_counts([SOURCES]))


@pytest.mark.parametrize("typed, searched", [
    ("is ketamin adictive", "is ketamine addictive"),  # a source word wins: no English word is one edit from "ketamin"
    ("Can I get hooekd on it?", "Can I get hooked on it?"),  # two letters swapped
    ("Ketamin and bladdar problems", "Ketamine and bladder problems"),  # a capital opening the message is kept
    ("does it raise glutamte", "does it raise glutamate"),
    ("ketamine for additcion", "ketamine for addiction"),  # one edit from "addition" too: the sources' commoner word wins
    ("thinking about sucide", "thinking about suicide"),
])
def test_misspelt_words_are_corrected(speller, typed, searched):
    assert speller.correct(typed) == searched


@pytest.mark.parametrize("typed", [
    "can ketamine help with alcohol addiction?",  # spelt right
    "what about my meds and ptsd",  # short slang and abbreviations: under five letters
    "whats the phone number for the Epec clinic",  # a capitalised name inside a sentence
    "is SPRAVATO the same as esketamine",  # capitals: an acronym or a brand
    "La kétamine est-elle dangereuse pendant la grossesse ?",  # mostly unknown words: another language
    "asdfgh jkxqwz",  # nothing one edit away
])
def test_words_that_are_not_misspellings_are_left_alone(speller, typed):
    assert speller.correct(typed) == typed


def test_the_index_holds_the_dictionary(engine):
    english, sources = engine.index.spelling["english"], engine.index.spelling["sources"]
    assert english["during"] > english["litter"] > 50 and "grille's" not in english  # commoner words count more
    assert sources["ketamine"] > 100 and "ketamine" not in english


def test_crisis_is_recognised_through_a_misspelling(engine):
    """Safety reads the corrected message: a misspelt crisis message still gets emergency resources first."""
    result = engine.ask("i keep thinking about sucide")
    assert result.status == "crisis" and result.searched_for == "i keep thinking about suicide"


def test_the_answer_says_what_was_searched_for(engine):
    result = engine.ask("can ketamin damage the bladdar?")
    assert result.status == "answered" and result.searched_for == "can ketamine damage the bladder?"
    assert result.to_json()["searched_for"] == "can ketamine damage the bladder?"
    assert "searched_for" not in engine.ask("can ketamine damage the bladder?").to_json()


def test_misspelt_gold_questions_keep_their_answers(engine):
    """The own gold set with one topic word of each question misspelt (seeded). Matching through the bank's
    paraphrases made typos cost less than they did, but correction still wins answers back (eval prints both)."""
    items = load_gold(ROOT / "tests" / "gold.jsonl")
    typed = misspell(items)
    assert sum(a["question"] != b["question"] for a, b in zip(items, typed)) >= 60  # the typos are really there
    f, _ = evaluate(engine, typed)
    assert f.r1 >= 0.80 and f.r3 >= 0.90 and f.false_abstain <= 0.05 and f.out_abstain >= 0.90
    assert (f.non_verbatim, f.boilerplate, f.false_crisis) == (0, 0, 0.0)
    speller, engine.speller = engine.speller, None
    try:
        without, _ = evaluate(engine, typed)
    finally:
        engine.speller = speller
    assert without.r1 < f.r1 - 0.05 and without.r3 < f.r3 - 0.05  # the typos are not harmless
