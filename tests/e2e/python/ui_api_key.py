"""Drives the chat page in headless Chromium against a `shimmy-host serve --api-key KEY`
(BASE_URL KEY MODEL): the page's first API call gets 401 and it asks for the key once, the
key entered is kept in localStorage and sent as Bearer, a message streams an answer, and a
later 401 (a stored key the server refuses) asks again. Prints "ok" at the end; any failed
check raises."""

import sys

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

import browser

BASE, KEY, MODEL = sys.argv[1], sys.argv[2], sys.argv[3]


def wait(driver, what, timeout=30):
    return WebDriverWait(driver, timeout, poll_frequency=0.02).until(lambda d: what(d))


def dialog_open(driver):
    return driver.execute_script("return document.getElementById('key-dialog').open")


def enter_key(driver, key):
    box = driver.find_element(By.ID, "key-input")
    box.send_keys(key)
    box.send_keys(Keys.ENTER)
    wait(driver, lambda d: not dialog_open(d))


d = browser.start()
try:
    d.get(BASE + "/")
    wait(d, dialog_open)
    assert d.find_element(By.ID, "key-title").text == "API key"
    enter_key(d, KEY)
    # Every request of the page now carries the key: the models are listed.
    wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, f'#models li[data-model="{MODEL}"]'))
    assert d.execute_script("return localStorage.getItem('shimmy.apiKey')") == KEY
    assert not dialog_open(d), "asked for the key more than once"

    box = d.find_element(By.ID, "prompt")
    box.send_keys("Hello")
    box.send_keys(Keys.ENTER)

    def done(d):
        a = d.find_elements(By.CSS_SELECTOR, "#log article.msg.assistant")
        return a and a[-1].get_attribute("data-done") == "1" and a[-1]

    answer = wait(d, done, 120)
    assert answer.find_element(By.CSS_SELECTOR, ".body").text.strip(), "empty answer"
    assert not answer.find_elements(By.CSS_SELECTOR, ".error"), answer.text

    # The key survives a reload (no question); a key the server refuses asks again.
    d.refresh()
    wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, f'#models li[data-model="{MODEL}"]'))
    assert not dialog_open(d)
    d.execute_script("localStorage.setItem('shimmy.apiKey', 'sk-wrong')")
    d.refresh()
    wait(d, dialog_open)
    assert d.find_element(By.ID, "key-title").text == "The API key was refused"
    enter_key(d, KEY)
    wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, f'#models li[data-model="{MODEL}"]'))
    print("ok")
finally:
    d.quit()
