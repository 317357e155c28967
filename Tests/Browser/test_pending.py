"""Pending: the bot's bookings, the navigation badge, the booking seen from its conversation,
accept (the patient is told) and reject (asked first)."""
import pytest
from selenium.webdriver.common.by import By

from conftest import APP, all_css, console_errors, css, new_phone, sign_in, text_in, visible, wait


def book(clinic, patient):
    hello = clinic.say(patient, "Hello, I would like to book an appointment")
    assert hello["replies"] and "1. " in hello["replies"][0], hello
    took = clinic.say(patient, "1")
    assert took["replies"] and "requested" in took["replies"][0], took


def card_for(d, patient):
    name = "Pat " + patient[-4:]
    return wait(d, lambda d: next((c for c in all_css(d, "#pending-list li.appt") if name in c.text), None), message=f"{name}'s booking")


def test_accept_tells_the_patient(driver, clinic):
    d = driver
    sign_in(d, clinic.owner)
    patient = new_phone()
    book(clinic, patient)
    text_in(d, "#pending-badge", "1")
    # The booking is visible from its conversation.
    name = "Pat " + patient[-4:]
    wait(d, lambda d: next((a for a in all_css(d, "#conv-list a.conv") if name in a.text), None)).click()
    text_in(d, "#patient-appointments", "awaiting review")
    css(d, "#patient-appointments a[href='#/pending']").click()
    card = card_for(d, patient)
    assert "Dr. Browser" in card.text
    before = len(clinic.received(patient))
    card.find_element(By.CSS_SELECTOR, "button.accept").click()
    text_in(d, "#view [role=alert]", "The patient was told on WhatsApp.")
    got = clinic.received(patient)[before:]
    assert any("confirmed" in (m.get("body") or "") for m in got), got
    wait(d, lambda d: not [c for c in all_css(d, "#pending-list li.appt") if name in c.text])
    wait(d, lambda d: not css(d, "#pending-badge").is_displayed())
    # Back in the conversation, the patient panel lists the appointment as confirmed.
    css(d, "#nav-conversations").click()
    wait(d, lambda d: next((a for a in all_css(d, "#conv-list a.conv") if name in a.text), None)).click()
    confirmed = visible(d, "#patient-appointments li[data-status=confirmed]")
    assert "Dr. Browser" in confirmed.text and "confirmed" in confirmed.text, confirmed.text


def test_reject_asks_first(driver, clinic):
    d = driver
    patient = new_phone()
    book(clinic, patient)
    d.get(d.current_url.split("#")[0] + "#/pending")
    card = card_for(d, patient)
    card.find_element(By.CSS_SELECTOR, "button.reject").click()
    dialog = visible(d, "dialog.confirm")
    assert "Reject the booking of Pat " + patient[-4:] in dialog.text
    dialog.find_element(By.XPATH, ".//button[normalize-space()='Cancel']").click()
    card = card_for(d, patient)
    before = len(clinic.received(patient))
    card.find_element(By.CSS_SELECTOR, "button.reject").click()
    visible(d, "dialog.confirm button.danger").click()
    text_in(d, "#view [role=alert]", "Rejected the booking of Pat " + patient[-4:])
    assert len(clinic.received(patient)) > before, "the patient got the notice"
    wait(d, lambda d: not [c for c in all_css(d, "#pending-list li.appt") if ("Pat " + patient[-4:]) in c.text])


@pytest.mark.allow_console(r"medsync-console-check", r"Content Security Policy")
def test_the_console_check_itself_catches_errors_and_csp_refusals(driver, clinic):
    """The guard every test leans on: a console error is reported, and the CSP nginx sends refuses an
    inline script (so a view that slipped one in would fail its test). Without this a broken check
    would let every test pass."""
    d = driver
    d.get(APP + "/")
    visible(d, "#app")
    d.execute_script("console.error('medsync-console-check')")
    d.execute_script("const s = document.createElement('script'); s.textContent = 'window.__inline_ran = 1'; document.body.appendChild(s)")
    seen = []

    def reported(d):
        seen.extend(console_errors(d))
        return any("medsync-console-check" in e for e in seen) and any("Content Security Policy" in e for e in seen)

    wait(d, reported, message="the console error and the CSP refusal reported")
    assert d.execute_script("return window.__inline_ran === undefined"), "an inline script ran"
