"""The staff web inbox in real Chromium (headless, Debian's chromium + chromium-driver) against the
stack `make test` started ($MEDSYNC_TEST_ENV). Each module gets its own clinic (workspace, users,
sender number, patients) and one browser, so modules are independent of each other and of the
Swift suites running at the same time. A SEVERE entry in the browser's console fails the test."""
import json
import os
import random
import re
import secrets
import subprocess
import urllib.error
import urllib.request

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PASSWORD = "browser-pass-" + secrets.token_hex(4)
WAIT = 15  # seconds an explicit wait may take before it fails (polling is 1.5–2 s)


def read_env(path):
    out = {}
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if "=" not in line or line.startswith("#"):
            continue
        k, v = line.split("=", 1)
        if len(v) >= 2 and v[0] == "'" and v[-1] == "'":
            v = v[1:-1].replace("'\\''", "'")
        out[k] = v
    return out


ENV = read_env(os.environ["MEDSYNC_TEST_ENV"]) if os.environ.get("MEDSYNC_TEST_ENV") else {}
APP = ENV.get("MEDSYNC_URL", "")
SANDBOX = ENV.get("SANDBOX_URL", "")
BIN_DIR = os.environ.get("BIN_DIR") or os.path.join(ROOT, ".build", "debug")
SHOTS = os.path.join(ROOT, "docs", "screenshots") if os.environ.get("MEDSYNC_UPDATE_SCREENSHOTS") else \
    os.path.join(ROOT, ".run", "test", "screenshots")


def app_env():
    keys = ["DATABASE_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_BASE_URL", "GEMINI_API_KEY",
            "GEMINI_API_BASE_URL", "MEDSYNC_FERNET_KEY", "ALLOWED_ORIGINS", "MEDSYNC_SQL_DIR"]
    env = dict(os.environ)
    env.update({k: ENV[k] for k in keys if k in ENV})
    return env


def jobs(*args):
    r = subprocess.run([os.path.join(BIN_DIR, "medsync-jobs"), *args], env=app_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"medsync-jobs {' '.join(args)} exited {r.returncode}: {r.stderr}"
    return r.stdout.strip()


def psql(sql, **params):
    """Runs SQL on the stack's database; values are psql variables (:'name'), never pasted into the text."""
    args = ["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1"]
    for k, v in params.items():
        args += ["-v", f"{k}={v}"]
    r = subprocess.run(args + [ENV["DATABASE_URL"]], input=sql, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def http(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={**({"Content-Type": "application/json"} if data else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


def new_phone(prefix="+52155"):
    return prefix + "%08d" % random.randrange(100_000_000)


class Clinic:
    """A workspace of its own: an owner and a doctor who sign in with a password, a doctor with every
    slot free (UTC), a sender the sandbox routes to our webhook, and a Content SID for `followup`."""

    def __init__(self, second_workspace=False):
        tag = secrets.token_hex(3)
        self.name = f"Browser Clinic {tag}"
        self.workspace = jobs("workspace", "create", "--name", self.name, "--timezone", "UTC")
        self.owner = f"owner-{tag}@browser.test"
        self.doctor = f"doctor-{tag}@browser.test"
        env_pw = {"BROWSER_PW": PASSWORD}
        os.environ.update(env_pw)
        jobs("user", "create", "--email", self.owner, "--workspace", self.workspace, "--role", "owner", "--name", "Olga Owner", "--password-env", "BROWSER_PW")
        self.doctor_id = jobs("user", "create", "--email", self.doctor, "--workspace", self.workspace, "--role", "doctor",
                              "--name", "Dr. Browser", "--password-env", "BROWSER_PW")
        self.second = None
        if second_workspace:
            self.second = f"Second Clinic {tag}"
            ws2 = jobs("workspace", "create", "--name", self.second, "--timezone", "UTC")
            jobs("user", "create", "--email", self.owner, "--workspace", ws2, "--role", "owner", "--keep-password")
        self.sender = "+1555" + "%07d" % random.randrange(10_000_000)
        # The number is the master account's in the sandbox first: linking asks Twilio who owns it.
        status, body = http("POST", SANDBOX + "/sandbox/numbers", {"phone_number": self.sender, "sms_url": APP + "/api/webhooks/whatsapp"})
        assert status == 200, body
        jobs("sender", "link", "--workspace", self.workspace, "--phone", self.sender, "--name", self.name)
        self.content_sid = "HX" + secrets.token_hex(16)
        psql("""
            INSERT INTO doctor_availability (workspace_id, doctor_id, weekday, start_time, end_time, slot_minutes)
            SELECT :'ws'::bigint, :'doc'::bigint, d, '00:00', '23:30', 30 FROM generate_series(0, 6) AS d;
            UPDATE workspaces SET content_sids = jsonb_build_object('followup', jsonb_build_object('en', :'sid'::text, 'es', :'sid'::text))
             WHERE id = :'ws'::bigint;
            """, ws=self.workspace, doc=self.doctor_id, sid=self.content_sid)

    def say(self, patient, text, name=None):
        """The patient writes from WhatsApp (the sandbox signs and posts the webhook through nginx)."""
        status, body = http("POST", SANDBOX + "/sandbox/inbound",
                            {"from": patient, "to": self.sender, "body": text, "profile_name": name or ("Pat " + patient[-4:])})
        assert status == 200, body
        return body["deliveries"][0]

    def received(self, patient):
        status, body = http("GET", SANDBOX + f"/sandbox/patients/{urllib.request.quote(patient)}/messages")
        assert status == 200, body
        return body.get("messages", [])


@pytest.fixture(scope="module")
def clinic(request):
    return Clinic(second_workspace=getattr(request.module, "SECOND_WORKSPACE", False))


@pytest.fixture(scope="module")
def driver():
    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,860",
              "--lang=en-US", "--disable-extensions", "--no-first-run"]:
        opts.add_argument(a)
    opts.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    d = webdriver.Chrome(options=opts, service=service)
    d.set_page_load_timeout(30)
    yield d
    d.quit()


def console_errors(d, allow=()):
    """SEVERE console entries (script errors, CSP violations, failed loads) not matched by `allow`."""
    out = []
    for e in d.get_log("browser"):
        if e.get("level") != "SEVERE":
            continue
        if any(re.search(p, e.get("message", "")) for p in allow):
            continue
        out.append(e["message"])
    return out


@pytest.fixture(autouse=True)
def no_console_errors(request, driver):
    """A console error fails the test; a test that expects an HTTP error marks it with allow_console."""
    driver.get_log("browser")  # drop what earlier tests left
    yield
    marker = request.node.get_closest_marker("allow_console")
    allow = marker.args if marker else ()
    errors = console_errors(driver, allow)
    assert not errors, "browser console errors:\n" + "\n".join(errors)


def pytest_configure(config):
    config.addinivalue_line("markers", "allow_console(*patterns): console entries matching these regexes do not fail the test")


# --- helpers the modules share -------------------------------------------------------------------

def wait(d, cond, timeout=WAIT, message=""):
    # The views redraw what changed while polling: an element found a moment ago may be replaced.
    return WebDriverWait(d, timeout, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)).until(cond, message)


def css(d, selector):
    return d.find_element(By.CSS_SELECTOR, selector)


def all_css(d, selector):
    return d.find_elements(By.CSS_SELECTOR, selector)


def visible(d, selector, timeout=WAIT):
    return wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, selector)), timeout, f"{selector} not visible")


def text_in(d, selector, text, timeout=WAIT):
    wait(d, EC.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text), timeout, f"{text!r} not in {selector}")
    return css(d, selector)


def sign_in(d, email, password=PASSWORD, workspace=None):
    d.get(APP + "/#/conversations")
    d.execute_script("sessionStorage.clear()")
    d.refresh()
    visible(d, "#signin")
    css(d, "input[name=email]").send_keys(email)
    css(d, "input[name=password]").send_keys(password)
    css(d, "#signin button[type=submit]").click()
    if workspace:
        visible(d, "#workspace-picker")
        buttons = [b for b in all_css(d, "#workspace-picker button.workspace") if workspace in b.text]
        assert buttons, "the workspace picker lists " + workspace
        buttons[0].click()
    visible(d, "nav.tabs")


def token(d):
    return d.execute_script("return sessionStorage.getItem('medsync.token')")


def api(d, method, path, body=None):
    """The API as the signed-in user of the browser (for set-up, never for what the test checks)."""
    ws = d.execute_script("return sessionStorage.getItem('medsync.workspace')")
    return http(method, APP + path, body, {"Authorization": "Bearer " + token(d), "X-Account-Id": ws})


def no_sideways_scroll(d):
    return d.execute_script("return document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def phone_width(d, on=True):
    if on:
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 360, "height": 740, "deviceScaleFactor": 1, "mobile": True})
    else:
        d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def screenshot(d, name, height=860):
    """A 1280-px-wide picture of the page from its top (for the README)."""
    os.makedirs(SHOTS, exist_ok=True)
    d.set_window_size(1280, height)
    d.execute_script("window.scrollTo(0, 0)")
    d.save_screenshot(os.path.join(SHOTS, name))
    d.set_window_size(1280, 860)
