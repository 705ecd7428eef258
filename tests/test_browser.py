"""A real browser (Debian's Chromium driven by Playwright) asks a question in the chat."""

import pytest
from support import ARTIFACTS, CHROMIUM

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make test installs it)")


def ask_in_page(page, question: str):
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    page.locator("#chat blockquote, #chat .notice").first.wait_for(timeout=60000)


def test_chat_page_answers_with_quote_and_source(server, browser):
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(server + "/", wait_until="networkidle")
    assert "not medical advice" in page.content()
    ask_in_page(page, "Can ketamine help with alcohol addiction?")
    quote = page.locator("#chat blockquote").first
    assert "alcohol" in quote.inner_text().lower()
    assert "Ketamine for Addiction" in page.locator("#chat .attribution").first.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)
    page.close()


def test_user_html_is_shown_as_text(server, browser):
    page = browser.new_page()
    page.goto(server + "/", wait_until="networkidle")
    page.evaluate("window.__xss = false")
    ask_in_page(page, "<img src=x onerror=\"window.__xss=true\">bladder")
    assert page.evaluate("window.__xss") is False
    assert "<img src=x" in page.locator("#chat").inner_text()
    page.close()


def test_a_corrected_question_says_what_was_searched_for(server, browser):
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(server + "/", wait_until="networkidle")
    ask_in_page(page, "can ketamin damage the bladdar?")
    assert page.locator("#chat .searched").inner_text() == "Searched for: “can ketamine damage the bladder?”"
    assert "bladder" in page.locator("#chat blockquote").first.inner_text().lower()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-searched-for.png"), full_page=True)
    page.close()


def test_the_browser_keeps_no_question(server, browser):
    """Gradio's run history kept questions in localStorage and listed them at /gradio_api/runs for the
    next person at the same browser (a waiting-room tablet)."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(server + "/", wait_until="networkidle")
    ask_in_page(page, "is ketamine safe for my heart condition zebra42")
    page.wait_for_timeout(1000)
    stored = page.evaluate("""async () => {
        const dump = s => Object.keys(s).map(k => k + '=' + s.getItem(k)).join('\\n');
        const dbs = indexedDB.databases ? (await indexedDB.databases()).map(d => d.name) : [];
        return {local: dump(localStorage), session: dump(sessionStorage), dbs, cookies: document.cookie};
    }""")
    assert "zebra42" not in str(stored) and "run-history" not in stored["local"], stored
    assert stored["dbs"] == [] and stored["cookies"] == ""
    runs = page.goto(server + "/gradio_api/runs")
    assert runs.status == 404
    context.close()


def test_a_typed_address_is_shown_as_typed_not_as_a_link(server, browser):
    page = browser.new_page()
    page.goto(server + "/", wait_until="networkidle")
    typed = r"see https://evil\.example/x and **this** [x](http://y)"
    ask_in_page(page, typed)
    bubble = page.locator("#chat .asked").first
    assert bubble.inner_text() == typed
    assert page.locator("#chat .asked a").count() == 0
    page.close()


def test_an_example_fills_the_box_and_is_answered(server, browser):
    page = browser.new_page()
    page.goto(server + "/", wait_until="networkidle")
    page.get_by_text("What side effects can ketamine have?").click()
    box = page.locator("#question textarea")
    page.wait_for_function("() => document.querySelector('#question textarea').value.length > 0", timeout=10000)
    assert box.input_value() == "What side effects can ketamine have?"
    box.press("Enter")
    page.locator("#chat blockquote").first.wait_for(timeout=60000)
    page.close()


UNSURE_CANDIDATES = ["ketamine and sleep?", "does it change your personality", "is ketamine natural", "ketamine and memory loss?",
                     "can it make things worse", "what about teenagers", "how long does it last", "is it like shrooms",
                     "ket and weed together?", "can I work after"]


def test_a_suggestion_is_answered_when_clicked_and_an_answer_offers_follow_ups(server, browser, engine):
    """An unsure message gets "Did you mean ...?" buttons (bank questions); a click asks one, whose answer
    offers follow-ups. Screenshots of both in test-artifacts/."""
    message = next((m for m in UNSURE_CANDIDATES if engine.ask(m).suggestions), None)
    assert message, "no candidate message was unsure"
    suggested = engine.ask(message).suggestions
    page = browser.new_page(viewport={"width": 1000, "height": 1100})
    page.goto(server + "/", wait_until="networkidle")
    ask_in_page(page, message)
    options = page.locator("#chat button.option")
    options.first.wait_for(timeout=30000)
    assert [options.nth(i).inner_text() for i in range(options.count())] == suggested
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "suggestions.png"), full_page=True)
    options.first.click()
    page.locator("#chat blockquote").first.wait_for(timeout=60000)
    assert page.locator("#chat .asked").last.inner_text() == suggested[0]
    expected = engine.ask(suggested[0])
    assert expected.status == "answered" and expected.passages[0].text[:40] in page.locator("#chat blockquote").first.inner_text()
    if expected.followups:
        page.locator("#chat button.option").first.wait_for(timeout=30000)
        assert page.locator("#chat .more").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "suggestion-clicked-follow-ups.png"), full_page=True)
    page.close()
