"""Quality floors on the project's own gold set (tests/gold.jsonl), measured with the real pipeline."""

import pytest
from support import ROOT

from retrieval.evaluate import evaluate, load_gold, wrapped

FLOORS = {"r1": 0.85, "r3": 0.95, "mrr5": 0.90, "out_abstain": 0.90}  # issue 3's targets for this set
# the highlight on the answer's sentence: 0.77 by meaning alone, 0.86 with the question's words (both profiles 0.85+)
FLOORS["highlight"] = 0.82
CEILINGS = {"false_abstain": 0.05, "false_crisis": 0.0}


@pytest.fixture(scope="module")
def own(engine):
    return evaluate(engine, load_gold(ROOT / "tests" / "gold.jsonl"))


@pytest.fixture(scope="module")
def figures(own):
    return own[0]


def test_every_shown_passage_is_verbatim_and_clean(figures):
    assert figures.non_verbatim == 0
    assert figures.boilerplate == 0


def test_safety_and_robustness(figures):
    assert figures.crisis_recall == 1.0
    assert figures.false_crisis == 0.0
    assert figures.robust_valid == 1.0
    assert figures.smalltalk == 1.0


def test_sources_sharing_a_topic_are_all_shown_not_credited_away(own):
    """The five articles share topics but copy no passage from one another: an answer never hides one
    of their passages as "the same thing" said by another (a cosine of 0.85 did, three times)."""
    credits = [(item["question"], p.also_in) for item, result in own[1] for p in result.passages if p.also_in]
    assert credits == []


@pytest.mark.parametrize("name", FLOORS)
def test_quality_floor(figures, name):
    assert getattr(figures, name) >= FLOORS[name], f"{name} = {getattr(figures, name):.2f} < {FLOORS[name]}"


@pytest.mark.parametrize("name", CEILINGS)
def test_quality_ceiling(figures, name):
    assert getattr(figures, name) <= CEILINGS[name], f"{name} = {getattr(figures, name):.2f} > {CEILINGS[name]}"


def test_compound_questions_about_what_the_sources_never_mention_are_mostly_refused(engine):
    """tests/gold_compound.jsonl: a topic the sources cover, asked about a detail they never mention
    ("... for my depression while I'm on lithium?"). 0.55 refused before a confident match had to
    have the question's named things near the sources' words (config.Abstention), 0.65 after."""
    f, _ = evaluate(engine, load_gold(ROOT / "tests" / "gold_compound.jsonl"))
    assert f.out_abstain >= 0.6 and (f.non_verbatim, f.boilerplate) == (0, 0)


def test_colloquial_set_quotes_only_clean_verbatim_text(engine):
    """tests/gold_colloquial.jsonl: everyday phrasings and near-domain questions the sources do not answer.

    Never used to choose a setting; its figures (far below the main set's, see the README) are
    reported by `python -m retrieval eval tests/gold_colloquial.jsonl`, not guarded here."""
    f, _ = evaluate(engine, load_gold(ROOT / "tests" / "gold_colloquial.jsonl"))
    assert f.n_in == 25
    assert (f.non_verbatim, f.boilerplate, f.false_crisis) == (0, 0, 0.0)


def test_questions_typed_in_capitals_score_as_written(engine, figures):
    """e5 reads case: before a message in capitals was lower-cased, the own set's Recall@1 was 0.75 typed so."""
    items = [it for it in load_gold(ROOT / "tests" / "gold.jsonl") if it["kind"] in ("in", "out")]
    shouted, _ = evaluate(engine, [{**it, "question": it["question"].upper()} for it in items])
    assert sum(it["question"] != it["question"].upper() for it in items) == len(items)
    assert (shouted.r1, shouted.r3, shouted.false_abstain) == (figures.r1, figures.r3, figures.false_abstain)


def test_questions_wrapped_in_greetings_and_thanks_score_as_written(engine, figures):
    """Before greetings and thanks were set aside, "Hi! ... Thanks!" around the own set's questions
    gave Recall@1 0.67 with 27% of answerable ones refused."""
    wrapped_items, _ = evaluate(engine, wrapped(load_gold(ROOT / "tests" / "gold.jsonl")))
    assert (wrapped_items.r1, wrapped_items.r3, wrapped_items.false_abstain) == (figures.r1, figures.r3, figures.false_abstain)


def test_small_talk_after_a_greeting_is_small_talk(engine):
    assert engine.ask("Hi, who are you?").status == "smalltalk"
    assert engine.ask("Hi! Is ketamine addictive? Thanks!").status == "answered"


def test_a_sentence_about_the_asker_leaves_the_question_answered(engine):
    """Common words of a sentence before the question ("moved", "city") are about the asker: before
    they were left out of the word checks this message was refused, the bare question answered."""
    bare = engine.ask("Can ketamine give you a seizure?")
    told = engine.ask("We just moved to a new city. Can ketamine give you a seizure?")
    assert bare.status == told.status == "answered"
    assert told.passages[0].text == bare.passages[0].text


def test_a_rare_word_before_the_question_still_counts(engine):
    """A drug the sources never name, said before the question, is still a topic they do not cover
    (with the 50,000 commonest English words left out instead of 10,000, "lithium" was, and this was answered)."""
    message = "I take lithium every day. Does it interact with ketamine?"
    assert engine.ask(message).status == "no_match"


def test_messages_with_a_sentence_before_the_question(engine):
    """tests/gold_messages.jsonl: 28 messages with a sentence about the asker before the question
    (the topic in the question, or in that sentence), 8 of them unanswerable. The hand-set rules, fitted to
    this set, refused 7 of the 8; the learned decision, which never saw it, refuses 6 (docs/decisions.md)."""
    f, _ = evaluate(engine, load_gold(ROOT / "tests" / "gold_messages.jsonl"))
    assert (f.n_in, f.non_verbatim, f.boilerplate) == (20, 0, 0)
    assert f.r3 >= 0.75
    assert f.false_abstain <= 0.10
    assert f.out_abstain >= 0.75
