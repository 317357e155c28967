"""Sign in, the live inbox, replies and their ticks, templates after the window, handoff, delete,
patient text as text, and the phone width."""
import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import (APP, PASSWORD, SANDBOX, http, all_css, api, css, new_phone, no_sideways_scroll, phone_width, psql, screenshot,
                      sign_in, text_in, visible, wait)

SECOND_WORKSPACE = True


def open_conversation(d, clinic, patient):
    """Waits for the patient's conversation in the list (live, no reload) and opens it."""
    name = "Pat " + patient[-4:]
    link = wait(d, lambda d: next((a for a in all_css(d, "#conv-list a.conv") if name in a.text), None), message=f"{name} in the list")
    text = link.text
    link.click()
    text_in(d, "#thread-title", name)
    return text


@pytest.mark.allow_console(r"401 \(Unauthorized\)")
def test_sign_in_picker_expired_token_and_sign_out(driver, clinic):
    d = driver
    d.get(APP + "/")
    d.execute_script("sessionStorage.clear()")
    d.refresh()
    visible(d, "#signin")
    css(d, "input[name=email]").send_keys(clinic.owner)
    css(d, "input[name=password]").send_keys("wrong password")
    css(d, "#signin button[type=submit]").click()
    text_in(d, "#signin [role=alert]", "do not match")
    css(d, "input[name=password]").clear()
    css(d, "input[name=password]").send_keys(PASSWORD)
    css(d, "#signin button[type=submit]").click()
    visible(d, "#workspace-picker")
    names = [b.text for b in all_css(d, "#workspace-picker button.workspace")]
    assert any(clinic.name in n for n in names) and any(clinic.second in n for n in names), names
    next(b for b in all_css(d, "#workspace-picker button.workspace") if clinic.name in b.text).click()
    text_in(d, "#ws-name", clinic.name)
    assert d.execute_script("return sessionStorage.getItem('medsync.token')")
    # The token is revoked elsewhere (another tab signs out): the next poll brings back the form with a message.
    status, _ = api(d, "POST", "/api/auth/logout")
    assert status == 204
    visible(d, "#signin")
    text_in(d, "#signin [role=alert]", "session has ended")
    sign_in(d, clinic.owner, workspace=clinic.name)
    css(d, "#signout").click()
    visible(d, "#signin")
    text_in(d, "#signin [role=alert]", "signed out")
    assert d.execute_script("return sessionStorage.getItem('medsync.token')") is None


def test_live_conversation_reply_ticks_and_patient_text(driver, clinic):
    d = driver
    sign_in(d, clinic.owner, workspace=clinic.name)
    patient = new_phone()
    clinic.say(patient, "Hello, is the clinic open on Saturday?")
    row = open_conversation(d, clinic, patient)
    assert "open · 23 h left" in row, row
    text_in(d, "#messages", "Hello, is the clinic open on Saturday?")
    # The patient writes again: it appears in the open thread without a reload.
    marker = d.execute_script("window.__same_page = 1; return 1")
    clinic.say(patient, "<img src=x onerror=alert(1)>")
    bodies = lambda d: [e.text for e in all_css(d, "#messages li.msg.in .body")]
    wait(d, lambda d: "<img src=x onerror=alert(1)>" in bodies(d), message="the patient's markup as text")
    assert d.execute_script("return window.__same_page") == marker, "no reload happened"
    assert not all_css(d, "#messages img"), "the patient's markup is not an element"
    try:
        d.switch_to.alert
        pytest.fail("an alert ran")
    except NoAlertPresentException:
        pass
    # A reply inside the window reaches the patient; its tick moves to delivered and read on the sandbox's callbacks.
    visible(d, "#reply").send_keys("We are open on Saturday from 9 to 1.")
    css(d, "#send").click()
    wait(d, lambda d: any(m.get("body") == "We are open on Saturday from 9 to 1." for m in clinic.received(patient)), message="reply reached the sandbox")
    # The inbox sent it with an Idempotency-Key of its own: a retried send is answered once, never delivered twice.
    sid = next(m["sid"] for m in clinic.received(patient) if m.get("body") == "We are open on Saturday from 9 to 1.")
    assert psql("""SELECT count(*) FROM idempotent_requests WHERE workspace_id = :'ws'::bigint AND operation = 'whatsapp.send'
                    AND response->>'twilio_sid' = :'sid'""", ws=clinic.workspace, sid=sid) == "1"
    out = lambda d: all_css(d, "#messages li.msg.out")
    wait(d, lambda d: any("We are open on Saturday" in m.text for m in out(d)))
    mine = lambda d: next(m for m in out(d) if "We are open on Saturday" in m.text)
    wait(d, lambda d: mine(d).get_attribute("data-status") in ("delivered", "read"), message="delivered tick")
    wait(d, lambda d: mine(d).get_attribute("data-status") == "read", message="read tick")
    assert mine(d).find_element(By.CSS_SELECTOR, ".tick").get_attribute("aria-label") == "Read"
    # Read in the open thread: the list's unread count goes back to none.
    row = lambda d: next(a for a in all_css(d, "#conv-list a.conv") if ("Pat " + patient[-4:]) in a.text)
    wait(d, lambda d: not row(d).find_elements(By.CSS_SELECTOR, ".unread"), message="unread count cleared")
    screenshot(d, "conversations.png")


def test_handoff_silences_the_bot_and_gives_it_back(driver, clinic):
    d = driver
    patient = new_phone()
    first = clinic.say(patient, "Hi, I have a question")
    assert first["replies"], "the bot answers before the handoff"
    open_conversation(d, clinic, patient)
    css(d, "#handoff").click()
    text_in(d, "#state-badge", "staff")
    silent = clinic.say(patient, "Are you there?")
    assert silent["replies"] == [], silent
    text_in(d, "#messages", "Are you there?")
    css(d, "#resume-bot").click()
    text_in(d, "#state-badge", "bot")


def test_closed_window_offers_templates_only(driver, clinic):
    d = driver
    patient = new_phone()
    clinic.say(patient, "Thanks for yesterday")
    open_conversation(d, clinic, patient)
    visible(d, "#reply")
    psql("UPDATE whatsapp_conversations c SET last_inbound_at = now() - interval '30 hours' FROM patients p "
         "WHERE p.id = c.patient_id AND p.workspace_id = :'ws'::bigint AND p.phone = :'phone'",
         ws=clinic.workspace, phone=patient)
    text_in(d, "#window-badge", "closed · templates only")
    visible(d, "#closed-note")
    assert not all_css(d, "#reply") and not all_css(d, "#use-text"), "no free text once the window has closed"
    d.find_element(By.CSS_SELECTOR, "#template option[value=followup]").click()
    doctor = visible(d, "#template-vars input[data-var=doctor_name]")
    doctor.send_keys("Dr. Browser")
    text_in(d, "#template-preview", "Dr. Browser")
    css(d, "#send-template").click()
    text_in(d, "#composer [role=alert]", "Template sent")
    got = [m for m in clinic.received(patient) if m.get("content_sid")]
    assert got and got[-1]["content_sid"] == clinic.content_sid, got
    assert got[-1]["content_variables"] == {"1": "Pat " + patient[-4:], "2": "Dr. Browser"}


@pytest.mark.allow_console(r"409 \(Conflict\)")
def test_patient_panel_consent_and_language(driver, clinic):
    d = driver
    patient = new_phone()
    clinic.say(patient, "Hola, buenos días")
    open_conversation(d, clinic, patient)
    text_in(d, "#patient-phone", patient)
    text_in(d, "#patient-name", "Pat " + patient[-4:])
    pid = next(p["id"] for p in api(d, "GET", "/api/patients?search=" + patient[1:])[1]["items"] if p["phone"] == patient)
    consent = lambda: api(d, "GET", f"/api/patients/{pid}")[1]["patient"]
    box = lambda d: css(d, "#patient-consent-input")
    wait(d, lambda d: box(d).is_selected(), message="consent shown on")
    box(d).click()
    text_in(d, "#patient-panel [role=alert]", "Saved.")
    wait(d, lambda d: css(d, "#patient-consent").get_attribute("data-consent") == "false")
    assert consent()["consent_whatsapp"] is False
    box(d).click()
    text_in(d, "#patient-consent", "may message")
    assert consent()["consent_whatsapp"] is True
    Select(css(d, "#patient-language")).select_by_value("en")
    wait(d, lambda d: consent()["preferred_language"] == "en", message="the language saved")
    # The patient replies STOP: opting them back in asks first.
    clinic.say(patient, "STOP")
    assert consent()["opted_out"] is True
    d.refresh()
    text_in(d, "#patient-consent", "opted out by replying STOP")
    box(d).click()
    visible(d, "dialog.confirm").find_element(By.XPATH, ".//button[normalize-space()='Cancel']").click()
    wait(d, lambda d: not box(d).is_selected())
    assert consent()["consent_whatsapp"] is False
    box(d).click()
    visible(d, "dialog.confirm button.danger").click()
    text_in(d, "#patient-consent", "may message")
    assert consent()["consent_whatsapp"] is True and consent()["consent_source"] == "staff", consent()


def test_delete_asks_first(driver, clinic):
    d = driver
    patient = new_phone()
    clinic.say(patient, "Please forget me")
    open_conversation(d, clinic, patient)
    css(d, "#delete-conv").click()
    dialog = visible(d, "dialog.confirm")
    dialog.find_element(By.XPATH, ".//button[normalize-space()='Cancel']").click()
    text_in(d, "#thread-title", "Pat " + patient[-4:])
    css(d, "#delete-conv").click()
    visible(d, "dialog.confirm button.danger").click()
    wait(d, lambda d: d.current_url.endswith("#/conversations"))
    wait(d, lambda d: all(("Pat " + patient[-4:]) not in a.text for a in all_css(d, "#conv-list a.conv")))


def test_search_and_spanish(driver, clinic):
    d = driver
    patient = new_phone()
    clinic.say(patient, "Necesito mis resultados", name="Zulema Search")
    search = visible(d, "#conv-search")
    search.send_keys("Zulema")
    wait(d, lambda d: [a.text for a in all_css(d, "#conv-list a.conv")] and all("Zulema" in a.text for a in all_css(d, "#conv-list a.conv")))
    search.clear()
    Select(css(d, "#lang")).select_by_value("es")
    text_in(d, "#nav-conversations", "Conversaciones")
    Select(css(d, "#lang")).select_by_value("en")
    text_in(d, "#nav-conversations", "Conversations")


def test_phone_width_nothing_scrolls_sideways(driver, clinic):
    d = driver
    patient = new_phone()
    clinic.say(patient, "A very long message " + "without-any-space-" * 20)
    phone_width(d, True)
    try:
        d.get(APP + "/#/conversations")
        d.refresh()
        open_conversation(d, clinic, patient)
        assert no_sideways_scroll(d), "thread at 360 px"
        css(d, "#thread-pane .panel-toggle").click()
        visible(d, "#patient-consent-input")
        assert no_sideways_scroll(d), "patient panel at 360 px"
        css(d, "#patient-panel .panel-close").click()
        assert not css(d, "#conv-list").is_displayed(), "one column at a time on a phone"
        css(d, "#thread-pane .back").click()
        visible(d, "#conv-list")
        assert no_sideways_scroll(d), "list at 360 px"
        for view in ["pending", "bundle", "settings"]:
            d.get(APP + "/#/" + view)
            visible(d, "#view")
            visible(d, "main h1")
            assert no_sideways_scroll(d), view + " at 360 px"
    finally:
        phone_width(d, False)


def test_failed_delivery_is_explained_and_media_shows_as_a_link(driver, clinic):
    d = driver
    d.get(APP + "/#/conversations")
    patient = new_phone()
    status, body = http("POST", SANDBOX + "/sandbox/inbound", {
        "from": patient, "to": clinic.sender, "body": "Here is my prescription", "profile_name": "Pat " + patient[-4:],
        "media": [{"url": "https://media.example.test/rx.jpg", "content_type": "image/jpeg"}]})
    assert status == 200, body
    open_conversation(d, clinic, patient)
    link = visible(d, "#messages li.msg.in a.media-link")
    assert link.get_attribute("href") == "https://media.example.test/rx.jpg"
    assert "image/jpeg" in link.text
    # Twilio accepts the next reply, then its status callbacks end in failed with 63024.
    status, body = http("POST", SANDBOX + "/sandbox/faults", {"api": "twilio_delivery", "kind": "twilio_error", "code": 63024, "to": patient})
    assert status in (200, 201), body
    visible(d, "#reply").send_keys("Thanks, we will check it.")
    css(d, "#send").click()
    failed = wait(d, lambda d: next((m for m in all_css(d, "#messages li.msg.out.failed") if "we will check it" in m.text), None),
                  message="the reply marked failed")
    explanation = failed.find_element(By.CSS_SELECTOR, ".error-text").text
    assert "Not delivered" in explanation and "63024" in explanation, explanation
