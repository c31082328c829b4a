"""Drives the chat page in headless Chromium against a real `shimmy-host serve`
(BASE_URL SERVER_PID MODEL [SCREENSHOT_DIR]): the page loads and lists the model, a message
streams an answer into the DOM, Esc stops a long answer, conversations survive a reload and
can be renamed, added and deleted, an unknown model and a stopped server show readable
errors, and a stored answer renders its Markdown, reasoning and tool calls with hostile text
kept as text. Prints "ok" at the end; any failed check raises."""

import json
import os
import signal
import sys
import time
import urllib.request

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

import browser

BASE, PID, MODEL = sys.argv[1], int(sys.argv[2]), sys.argv[3]
SHOTS = sys.argv[4] if len(sys.argv) > 4 else None


def wait(driver, what, timeout=30):
    return WebDriverWait(driver, timeout, poll_frequency=0.02).until(lambda d: what(d))


def answers(driver):
    return driver.find_elements(By.CSS_SELECTOR, "#log article.msg.assistant")


def last_answer_done(driver):
    a = answers(driver)
    return a and a[-1].get_attribute("data-done") == "1" and a[-1]


def send(driver, text):
    box = driver.find_element(By.ID, "prompt")
    box.click()
    box.send_keys(text)
    box.send_keys(Keys.ENTER)


def set_field(driver, field, value):
    driver.execute_script(
        "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
        " e.dispatchEvent(new Event('change'));", field, str(value))


def text_of(driver, css):
    """The text of the first element matching `css` ('' when none), read in one step (the
    page may re-render between a find and a read)."""
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", css)


def health():
    with urllib.request.urlopen(BASE + "/health", timeout=10) as r:
        return json.load(r)


d = browser.start()
try:
    d.get(BASE + "/")
    assert d.title == "shimmy-host", d.title
    # The served model is listed with its facts, and offered in the picker.
    item = wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, f'#models li[data-model="{MODEL}"]'))[0]
    assert "MiB" in item.text or "KiB" in item.text, item.text
    assert "not loaded" in item.text, item.text
    assert d.find_element(By.ID, "model").get_attribute("value") == MODEL

    # Shift+Enter is a new line, Enter sends; the answer streams into the DOM.
    assert not d.find_element(By.ID, "settings").is_displayed(), "settings start folded"
    assert not d.find_element(By.ID, "stop").is_displayed()
    d.find_element(By.ID, "toggle-settings").click()
    assert d.find_element(By.ID, "toggle-settings").get_attribute("aria-expanded") == "true"
    tokens = d.find_element(By.ID, "max_tokens")
    tokens.send_keys("48", Keys.TAB)
    set_field(d, "temperature", 0)
    box = d.find_element(By.ID, "prompt")
    box.send_keys("Tell me about the sea")
    box.send_keys(Keys.SHIFT, Keys.ENTER)
    assert d.find_element(By.ID, "prompt").get_attribute("value").endswith("\n"), "Shift+Enter adds a line"
    d.execute_script("""
        window.__lengths = [];
        new MutationObserver(() => {
          const a = document.querySelectorAll('#log article.assistant .body');
          if (a.length) window.__lengths.push(a[a.length - 1].textContent.length);
        }).observe(document.getElementById('log'), {childList: true, subtree: true, characterData: true});
    """)
    box.send_keys("in one line.")
    box.send_keys(Keys.ENTER)
    done = wait(d, last_answer_done, 120)
    text = done.find_element(By.CSS_SELECTOR, ".body").text
    assert text.strip(), "empty answer"
    lengths = d.execute_script("return window.__lengths")
    growing = sorted(set(n for n in lengths if n > 0))
    assert len(growing) >= 3, f"the answer did not stream: {lengths}"
    stats = done.find_element(By.CSS_SELECTOR, ".stats").text
    for want in ("prompt", "first token", "48 tok", "tok/s", "stopped at max tokens"):
        assert want in stats, f"{want!r} not in {stats!r}"
    user = d.find_elements(By.CSS_SELECTOR, "#log article.msg.user")[-1]
    assert user.text.endswith("Tell me about the sea\nin one line."), user.text
    # Now loaded, with its placement.
    d.find_element(By.ID, "refresh-models").click()
    wait(d, lambda d: text_of(d, f'#models li[data-model="{MODEL}"] .loaded').startswith("loaded: CPU"))

    # Esc stops a long answer; the slot is freed.
    set_field(d, "max_tokens", 3000)
    send(d, "Write a very long story.")
    wait(d, lambda d: len(answers(d)) == 2 and len(answers(d)[-1].find_element(By.CSS_SELECTOR, ".body").text) > 20, 60)
    assert d.find_element(By.ID, "stop").is_displayed()
    ActionChains(d).send_keys(Keys.ESCAPE).perform()
    stopped = wait(d, last_answer_done, 30)
    assert stopped.find_elements(By.CSS_SELECTOR, ".stopped"), stopped.text
    assert d.find_element(By.ID, "send").is_displayed() and not d.find_element(By.ID, "stop").is_displayed()
    frozen = stopped.find_element(By.CSS_SELECTOR, ".body").text
    deadline = time.time() + 10
    while health()["slots"]["busy"] and time.time() < deadline:
        time.sleep(0.05)
    assert health()["slots"]["busy"] == 0, "the stopped answer still holds a slot"
    assert stopped.find_element(By.CSS_SELECTOR, ".body").text == frozen

    # The conversation survives a reload; rename, new and delete work.
    d.refresh()
    wait(d, lambda d: len(answers(d)) == 2)
    assert d.find_elements(By.CSS_SELECTOR, "#log .stopped")
    rows = d.find_elements(By.CSS_SELECTOR, "#conversations li")
    assert len(rows) == 1
    rows[0].find_element(By.CSS_SELECTOR, ".rename").click()
    name = d.find_element(By.CSS_SELECTOR, "#conversations li input")
    name.send_keys(Keys.CONTROL, "a")
    name.send_keys("Sea stories", Keys.ENTER)
    wait(d, lambda d: d.find_element(By.CSS_SELECTOR, "#conversations li .open").text == "Sea stories")
    assert d.find_element(By.ID, "chat-title").text == "Sea stories"
    d.find_element(By.ID, "new-chat").click()
    wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#conversations li")) == 2 and not answers(d))
    d.refresh()
    wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#conversations li")) == 2)
    newest = d.find_elements(By.CSS_SELECTOR, "#conversations li")[0]
    newest.find_element(By.CSS_SELECTOR, ".delete").click()
    d.find_elements(By.CSS_SELECTOR, "#conversations li")[0].find_element(By.CSS_SELECTOR, ".delete").click()
    wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#conversations li")) == 1)
    d.find_element(By.CSS_SELECTOR, "#conversations li .open").click()
    wait(d, lambda d: len(answers(d)) == 2)

    if SHOTS:
        for scheme in ("light", "dark"):
            browser.color_scheme(d, scheme)
            time.sleep(0.2)
            d.save_screenshot(os.path.join(SHOTS, f"ui-{scheme}.png"))
        browser.color_scheme(d, "light")

    # A stored answer with Markdown, reasoning, a tool call and hostile text renders safely.
    fixture = [{"id": "fixture", "title": "Rendering", "model": MODEL, "created": 0, "messages": [
        {"role": "user", "content": "<b>not bold</b>"},
        {"role": "assistant", "model": MODEL,
         "content": "# Title\n\n**bold** and `code` <img src=x onerror=\"window.__xss=1\">"
                    " [bad](javascript:window.__xss=2) [good](https://example.com/x)\n\n"
                    "```python\nprint('<script>')\n```\n\n- one\n- two",
         "reasoning": "thinking about <i>it</i>",
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}],
         "stats": {"prompt_tokens": 5, "completion_tokens": 9, "ttft_ms": 120, "decode_ms": 400,
                   "total_ms": 520, "finish": "tool_calls"}}]}]
    d.execute_script("localStorage.setItem('shimmy.conversations.v1', arguments[0]);"
                     "localStorage.setItem('shimmy.current', 'fixture');", json.dumps(fixture))
    d.refresh()
    wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#log .tool-call"))
    log = d.find_element(By.ID, "log")
    assert not log.find_elements(By.TAG_NAME, "img") and not log.find_elements(By.TAG_NAME, "b")
    assert d.execute_script("return window.__xss") is None
    assert "<img src=x" in log.text and "<b>not bold</b>" in log.text, log.text
    reasoning = log.find_element(By.CSS_SELECTOR, "details.reasoning")
    assert reasoning.get_attribute("open") is None, "stored reasoning starts folded"
    reasoning.find_element(By.TAG_NAME, "summary").click()
    assert "thinking about <i>it</i>" in reasoning.find_element(By.CSS_SELECTOR, ".text").text
    card = log.find_element(By.CSS_SELECTOR, ".tool-call")
    assert card.find_element(By.CSS_SELECTOR, ".fn").text == "get_weather"
    assert '"city": "Paris"' in card.find_element(By.TAG_NAME, "pre").text
    assert log.find_element(By.CSS_SELECTOR, "h3").text == "Title"
    assert log.find_element(By.CSS_SELECTOR, "strong").text == "bold"
    assert "print('<script>')" in log.find_element(By.CSS_SELECTOR, "pre code.language-python").text
    assert len(log.find_elements(By.CSS_SELECTOR, "ul li")) == 2
    links = {a.text: a.get_attribute("href") for a in log.find_elements(By.TAG_NAME, "a")}
    assert links == {"good": "https://example.com/x"}, links
    assert "prompt 5 tok" in log.find_element(By.CSS_SELECTOR, ".stats").text

    # A model the server does not serve (a stale list): the server's error, readable.
    set_field(d, "max_tokens", 8)
    d.execute_script("""
        const s = document.getElementById('model');
        s.append(new Option('no-such-model', 'no-such-model'));
        s.value = 'no-such-model';
        s.dispatchEvent(new Event('change'));
    """)
    send(d, "Hello?")
    failed = wait(d, last_answer_done, 30)
    err = failed.find_element(By.CSS_SELECTOR, ".error").text
    assert "no-such-model" in err and "not found" in err and "HTTP 404" in err, err
    assert failed.find_element(By.CSS_SELECTOR, ".error").get_attribute("role") == "alert"

    # The server goes away: the page says so.
    d.execute_script(f"const s = document.getElementById('model'); s.value = {json.dumps(MODEL)}; s.dispatchEvent(new Event('change'));")
    os.kill(PID, signal.SIGTERM)
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            health()
            time.sleep(0.1)
        except OSError:
            break
    send(d, "Are you there?")
    gone = wait(d, last_answer_done, 30)
    err = gone.find_element(By.CSS_SELECTOR, ".error").text
    assert "Cannot reach the server" in err, err

    # Nothing was blocked by the page's Content-Security-Policy.
    csp = [e for e in d.get_log("browser") if "Content Security Policy" in e.get("message", "")]
    assert not csp, csp
    print("ok")
finally:
    d.quit()
