"""Unit tests: paragraphs and sentences as exact spans, cleaning rules, chunk boundaries."""

from retrieval.chunking import chunk_document
from retrieval.clean import classify
from retrieval.config import ChunkSettings
from retrieval.records import Source
from retrieval.segment import paragraphs, sentences

SRC = Source(id="t", file="t.txt", title="T")


def texts(text, spans):
    return [text[s.start : s.end] for s in spans]


def test_paragraphs_are_trimmed_lines():
    text = "  First line.  \n\nSecond line\n"
    assert texts(text, paragraphs(text)) == ["First line.", "Second line"]


def test_sentences_keep_exact_offsets_and_skip_list_numbers_and_abbreviations():
    text = "1. Mechanism: It works fast. Dr. Smith agreed! Does it last? e.g. not long."
    para = paragraphs(text)[0]
    got = texts(text, sentences(text, para))
    assert got == ["1. Mechanism: It works fast.", "Dr. Smith agreed!", "Does it last? e.g. not long."]


def kinds(text):
    return [(text[p.span.start : p.span.end][:20], p.kind, p.reason) for p in classify(text)]


def test_headings_chrome_and_footer():
    text = (
        "top of page\nHow Ketamine Works\nKetamine blocks a receptor. It acts fast.\n"
        "Recent Posts\nKetamine and you: a long post title that is not content.\n"
    )
    got = kinds(text)
    assert got[0][1:] == ("boilerplate", "chrome")
    assert got[1][1:] == ("heading", "heading")
    assert got[2][1] == "body"
    assert [g[2] for g in got[3:]] == ["footer", "footer"]


def test_phone_number_paragraph_is_an_ad():
    text = "Ketamine can help some people. Call our office at (555) 123-4567 for an appointment.\n"
    assert kinds(text)[0][1:] == ("boilerplate", "ad")


def test_call_to_action_sentence_is_dropped_but_rest_of_paragraph_stays():
    text = "Ketamine is an anesthetic. To learn more, check out our guide here.\n"
    para = classify(text)[0]
    assert para.kind == "body"
    assert [s.allowed for s in para.sentences] == [True, False]
    assert para.sentences[1].reason == "cta"


def test_dangling_lead_in_is_not_a_passage():
    text = "Withdrawal is real. Symptoms may include:\nSome considerations include:\n"
    paras = classify(text)
    assert [s.reason for s in paras[0].sentences] == ["", "lead-in"]
    assert paras[1].kind == "boilerplate"


def test_teaser_run_and_truncated_teaser():
    text = (
        "Ketamine is studied for depression. It acts quickly.\n"
        "Discover the best hiking trails near you.\nDiscover ten cheap recipes for students.\n"
        "Discover why cats purr at night.\nA lonely link that was cut off mid sentence…\n"
    )
    reasons = [p.reason for p in classify(text)]
    assert reasons == ["", "teaser", "teaser", "teaser", "teaser"]


def test_chunks_are_verbatim_within_paragraph_and_capped():
    text = "Intro\n" + " ".join(f"Sentence number {i} is here." for i in range(7)) + "\nShort one.\n"
    chunks = chunk_document(SRC, text, ChunkSettings(max_sentences=3, max_chars=700))
    for c in chunks:
        assert c.text == text[c.start : c.end]
        assert 1 <= len(c.sentences) <= 3
        assert c.heading == "Intro"
    assert [len(c.sentences) for c in chunks] == [3, 2, 2, 1]  # 7 sentences balanced as 3+2+2


def test_character_cap_splits_long_runs():
    long = " ".join(["This sentence is quite long and keeps going for a while."] * 3)
    chunks = chunk_document(SRC, long + "\n", ChunkSettings(max_sentences=3, max_chars=100))
    assert all(len(c.text) <= 100 for c in chunks)
    assert len(chunks) == 3
