"""Takes the chat page's screenshots for docs/ (BASE_URL OUT_DIR [PROMPT]): asks the server's
first model one question in headless Chromium and saves ui-light.png and ui-dark.png.
Not a test; see docs/ui.md for how the committed ones were made."""

import os
import sys
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

import browser

base, out = sys.argv[1], sys.argv[2]
prompt = sys.argv[3] if len(sys.argv) > 3 else "Write a Python function that reverses a string, and explain it in two sentences."
d = browser.start(1100, 720)
try:
    d.get(base + "/")
    WebDriverWait(d, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#models li[data-model]"))
    d.execute_script("""
        for (const [id, v] of [['temperature', '0'], ['max_tokens', '200'], ['seed', '1']]) {
          const e = document.getElementById(id); e.value = v; e.dispatchEvent(new Event('change'));
        }""")
    box = d.find_element(By.ID, "prompt")
    box.send_keys(prompt, Keys.ENTER)
    WebDriverWait(d, 300).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, '#log article.assistant[data-done="1"]'))
    d.find_element(By.ID, "refresh-models").click()
    time.sleep(0.5)
    for scheme in ("light", "dark"):
        browser.color_scheme(d, scheme)
        time.sleep(0.3)
        d.save_screenshot(os.path.join(out, f"ui-{scheme}.png"))
    print("saved", out)
finally:
    d.quit()
