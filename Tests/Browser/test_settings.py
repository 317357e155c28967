"""Settings: reminders survive a reload, the numbers' API hints shown as they come, the clinic
profile, Content SIDs, a doctor's hours and the members edited and read back, a 403 as a sentence,
and a doctor-role user is offered no admin action."""
import os
import re
import secrets

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from conftest import (APP, PASSWORD, ROOT, all_css, api, css, http, jobs, no_sideways_scroll, phone_width, sign_in, text_in, token, visible,
                      wait)


def settings(d):
    d.get(APP + "/#/settings")
    d.refresh()
    visible(d, "#settings-title")


def retype(el, text):
    el.clear()
    el.send_keys(text)


def test_reminder_settings_survive_a_reload(driver, clinic):
    d = driver
    sign_in(d, clinic.owner)
    d.get(d.current_url.split("#")[0] + "#/settings")
    hours = visible(d, "#rem-hours")
    hours.clear()
    hours.send_keys("6")
    css(d, "#rem-mode-custom").click()
    custom = visible(d, "#rem-custom")
    custom.clear()
    custom.send_keys("Hola {patient_name}, le esperamos {when}.")
    Select(css(d, "#rem-language")).select_by_value("en")
    css(d, "#rem-save").click()
    text_in(d, "#reminders [role=alert]", "Saved.")
    d.refresh()
    wait(d, lambda d: css(d, "#rem-hours").get_attribute("value") == "6")
    assert css(d, "#rem-mode-custom").is_selected()
    assert css(d, "#rem-custom").get_attribute("value") == "Hola {patient_name}, le esperamos {when}."
    assert Select(css(d, "#rem-language")).first_selected_option.get_attribute("value") == "en"
    # Back to a template; a bad hour count is refused before it is sent.
    hours = css(d, "#rem-hours")
    hours.clear()
    hours.send_keys("90")
    css(d, "#rem-save").click()
    text_in(d, "#reminders [role=alert]", "1 to 72")


@pytest.mark.allow_console(r"409 \(Conflict\)")
def test_numbers_list_and_error_hint(driver, clinic):
    d = driver
    d.get(d.current_url.split("#")[0] + "#/settings")
    text_in(d, "#senders", clinic.sender)
    visible(d, "#link-phone").send_keys(clinic.sender)
    css(d, "#link-form button[type=submit]").click()
    # The API's own sentence (code already_linked) is shown as it comes.
    notice = text_in(d, "#numbers [role=alert]", clinic.sender)
    assert "linked" in notice.text.lower(), notice.text
    visible(d, "#audit-log")
    text_in(d, "#audit-log", "reminder")


@pytest.mark.allow_console(r"400 \(Bad Request\)")
def test_clinic_profile_survives_a_reload(driver, clinic):
    d = driver
    settings(d)
    name = visible(d, "#clinic-name")
    wait(d, lambda d: css(d, "#clinic-name").get_attribute("value") == clinic.name, message="the clinic's name loaded")
    retype(name, "Clínica Browser Norte")
    retype(css(d, "#clinic-info"), "Open Monday to Saturday, 9 to 18.")
    retype(css(d, "#clinic-phone"), "+52 55 1234 0000")
    Select(css(d, "#clinic-language")).select_by_value("en")
    css(d, "#clinic-save").click()
    text_in(d, "#clinic [role=alert]", "Saved.")
    # The API's normalized number is what the form shows now.
    wait(d, lambda d: css(d, "#clinic-phone").get_attribute("value") == "+525512340000", message="the phone as the API stored it")
    settings(d)
    wait(d, lambda d: css(d, "#clinic-name").get_attribute("value") == "Clínica Browser Norte", message="the name after a reload")
    assert css(d, "#clinic-info").get_attribute("value") == "Open Monday to Saturday, 9 to 18."
    assert Select(css(d, "#clinic-language")).first_selected_option.get_attribute("value") == "en"
    status, body = api(d, "GET", "/api/clinic")
    assert status == 200 and body["clinic_name"] == "Clínica Browser Norte" and body["phone"] == "+525512340000", body
    # A number the API refuses: its hint, as it comes; nothing changed.
    retype(css(d, "#clinic-phone"), "call us")
    css(d, "#clinic-save").click()
    notice = text_in(d, "#clinic [role=alert]", "not an international number")
    assert "phone" in notice.text, notice.text
    assert api(d, "GET", "/api/clinic")[1]["phone"] == "+525512340000"


@pytest.mark.allow_console(r"400 \(Bad Request\)")
def test_content_sids_saved_and_shown_again(driver, clinic):
    d = driver
    settings(d)
    sid = "HX" + secrets.token_hex(16)
    form = lambda d: css(d, "form.sid-form[data-template=appt_reminder]")
    visible(d, "form.sid-form[data-template=appt_reminder] input[data-lang=es]")   # drawn when the templates arrive
    es = form(d).find_element(By.CSS_SELECTOR, "input[data-lang=es]")
    retype(es, "HX123")
    form(d).find_element(By.CSS_SELECTOR, "button.sid-save").click()
    text_in(d, "form.sid-form[data-template=appt_reminder] [role=alert]", "HX followed by 32 hexadecimal digits")
    retype(form(d).find_element(By.CSS_SELECTOR, "input[data-lang=es]"), sid)
    form(d).find_element(By.CSS_SELECTOR, "button.sid-save").click()
    text_in(d, "form.sid-form[data-template=appt_reminder] [role=alert]", "Saved.")
    settings(d)
    wait(d, lambda d: form(d).find_element(By.CSS_SELECTOR, "input[data-lang=es]").get_attribute("value") == sid, message="the SID after a reload")
    templates = {t["id"]: t for t in api(d, "GET", "/api/whatsapp/templates")[1]["templates"]}
    assert templates["appt_reminder"]["content_sids"] == {"es": sid}, templates["appt_reminder"]


@pytest.mark.allow_console(r"400 \(Bad Request\)")
def test_doctor_hours_saved_and_shown_again(driver, clinic):
    d = driver
    settings(d)
    text_in(d, "#doctor-pick", "Dr. Browser")
    wait(d, lambda d: len(all_css(d, "#weekly-rows li")) == 7, message="the doctor's seven days")
    while all_css(d, "#weekly-rows li"):
        css(d, "#weekly-rows li button.remove-row").click()
    css(d, "#add-hours").click()
    row = css(d, "#weekly-rows li")
    Select(row.find_element(By.CSS_SELECTOR, "select")).select_by_value("2")
    retype(row.find_element(By.CSS_SELECTOR, "[data-k=start]"), "09:00")
    retype(row.find_element(By.CSS_SELECTOR, "[data-k=end]"), "08:00")
    retype(row.find_element(By.CSS_SELECTOR, "[data-k=slot]"), "20")
    css(d, "#availability-save").click()
    text_in(d, "#availability-form [role=alert]", "weekly[0].end: must be after start")
    retype(row.find_element(By.CSS_SELECTOR, "[data-k=end]"), "12:00")
    css(d, "#add-timeoff").click()
    off = css(d, "#timeoff-rows li")
    retype(off.find_element(By.CSS_SELECTOR, "[data-k=from]"), "2030-12-24")
    retype(off.find_element(By.CSS_SELECTOR, "[data-k=to]"), "2030-12-26")
    retype(off.find_element(By.CSS_SELECTOR, "[data-k=reason]"), "Holidays")
    css(d, "#availability-save").click()
    text_in(d, "#availability-form [role=alert]", "Saved.")
    settings(d)
    wait(d, lambda d: len(all_css(d, "#weekly-rows li")) == 1, message="one range after a reload")
    row = css(d, "#weekly-rows li")
    assert Select(row.find_element(By.CSS_SELECTOR, "select")).first_selected_option.get_attribute("value") == "2"
    assert [row.find_element(By.CSS_SELECTOR, f"[data-k={k}]").get_attribute("value") for k in ("start", "end", "slot")] == ["09:00", "12:00", "20"]
    off = css(d, "#timeoff-rows li")
    assert off.find_element(By.CSS_SELECTOR, "[data-k=reason]").get_attribute("value") == "Holidays"
    status, body = api(d, "GET", f"/api/doctors/{clinic.doctor_id}/availability")
    assert status == 200 and body["weekly"] == [{"weekday": 2, "start": "09:00", "end": "12:00", "slot_minutes": 20}], body
    assert [(t["from"], t["to"], t["reason"]) for t in body["time_off"]] == [("2030-12-24T00:00", "2030-12-27T00:00", "Holidays")], body


def member_row(d, email):
    return next((r for r in all_css(d, "#members-table tbody tr") if r.get_attribute("data-email") == email), None)


def invitation_row(d, email):
    return next((r for r in all_css(d, "#invitations-table tbody tr") if r.get_attribute("data-email") == email), None)


@pytest.mark.allow_console(r"403 \(Forbidden\)")
def test_members_added_role_changed_removed_and_a_403_reads_as_a_sentence(driver, clinic):
    d = driver
    settings(d)
    # The page's own links take the keyboard to a section's heading.
    css(d, ".toc button[data-section=members]").send_keys(Keys.ENTER)
    wait(d, lambda d: d.execute_script("return document.activeElement && document.activeElement.id") == "members-title",
         message="focus on the Members heading")
    tag = secrets.token_hex(3)
    nurse, newdoc, ada = f"nurse-{tag}@browser.test", f"newdoc-{tag}@browser.test", f"ada-{tag}@browser.test"
    for email, name, role in [(nurse, "Nina Nurse", "staff"), (newdoc, "Dr. Nuevo", "doctor"), (ada, "Ada Owner", "owner")]:
        retype(visible(d, "#member-email"), email)
        retype(css(d, "#member-name"), name)
        Select(css(d, "#member-role")).select_by_value(role)
        if role == "owner":
            css(d, "#member-name").send_keys(Keys.ENTER)  # by keyboard
        else:
            css(d, "#member-add").click()
        text_in(d, "#members [role=alert]", "Invitation created for " + email)
        wait(d, lambda d: invitation_row(d, email), message=email + " pending")
        # The invitee accepts the link the owner passed on (the browser test of that page: test_invitations.py).
        link = visible(d, "#invite-url").get_attribute("value")
        status, body = http("POST", APP + "/api/invitations/accept", {"token": link.split("#/invite/")[1], "password": PASSWORD})
        assert status == 200, body
    settings(d)
    for email in (nurse, newdoc, ada):
        wait(d, lambda d: member_row(d, email), message=email + " listed")
    # A new doctor can be given hours at once.
    text_in(d, "#doctor-pick", "Dr. Nuevo")
    # The nurse becomes an admin doctor; it survives a reload.
    Select(member_row(d, nurse).find_element(By.CSS_SELECTOR, "select.member-role")).select_by_value("admin_doctor")
    text_in(d, "#members [role=alert]", "Nina Nurse is now Admin doctor")
    settings(d)
    wait(d, lambda d: member_row(d, nurse) and member_row(d, nurse).find_element(By.CSS_SELECTOR, "td.role").get_attribute("data-role") == "admin_doctor")
    members = {m["email"]: m for m in api(d, "GET", "/api/members")[1]["items"]}
    assert members[nurse]["role"] == "admin_doctor" and members[newdoc]["role"] == "doctor" and members[ada]["role"] == "owner", members
    # Removing asks first.
    member_row(d, nurse).find_element(By.CSS_SELECTOR, "button.remove-member").click()
    visible(d, "dialog.confirm").find_element(By.XPATH, ".//button[normalize-space()='Cancel']").click()
    assert member_row(d, nurse)
    member_row(d, nurse).find_element(By.CSS_SELECTOR, "button.remove-member").click()
    visible(d, "dialog.confirm button.danger").click()
    text_in(d, "#members [role=alert]", "Removed " + nurse)
    wait(d, lambda d: member_row(d, nurse) is None, message="the nurse gone from the list")
    assert nurse not in {m["email"] for m in api(d, "GET", "/api/members")[1]["items"]}
    # At 360 px the filled settings page does not scroll sideways.
    phone_width(d, True)
    try:
        settings(d)
        wait(d, lambda d: member_row(d, ada) and all_css(d, "#weekly-rows"))
        assert no_sideways_scroll(d), "settings at 360 px"
    finally:
        phone_width(d, False)
    # Ada signs in as an owner; meanwhile Olga makes her staff: her next save is refused, in a sentence.
    owner_token = d.execute_script("return sessionStorage.getItem('medsync.token')")
    sign_in(d, ada)
    settings(d)
    visible(d, "#clinic-save")
    status, body = http("PATCH", APP + f"/api/members/{members[ada]['user_id']}", {"role": "staff"},
                        {"Authorization": "Bearer " + owner_token, "X-Account-Id": clinic.workspace})
    assert status == 200 and body["role"] == "staff", body
    css(d, "#clinic-save").click()
    text_in(d, "#clinic [role=alert]", "Your role in this clinic does not allow this action.")


def test_doctor_sees_no_admin_actions(driver, clinic):
    d = driver
    other_doctor = jobs("user", "create", "--email", f"other-{secrets.token_hex(3)}@browser.test", "--workspace", clinic.workspace,
                        "--role", "doctor", "--name", "Dr. Other", "--password-env", "BROWSER_PW")
    sign_in(d, clinic.doctor)
    d.get(d.current_url.split("#")[0] + "#/settings")
    visible(d, "#rem-readonly")
    text_in(d, "#senders", clinic.sender)
    assert not all_css(d, "#rem-save"), "no save for reminders"
    assert css(d, "#rem-hours").get_attribute("disabled") is not None
    assert not all_css(d, "#link-form") and not all_css(d, "#provision-form"), "no link or provision"
    assert not all_css(d, "#senders button"), "no deactivate or make primary"
    assert not all_css(d, "#audit"), "no audit log"
    visible(d, "#clinic-readonly")
    assert not all_css(d, "#clinic-save") and css(d, "#clinic-name").get_attribute("disabled") is not None, "the clinic profile read-only"
    visible(d, "#sids-readonly")
    assert not all_css(d, "button.sid-save"), "no Content SID saving"
    visible(d, "#members-table")
    assert not all_css(d, "#member-form") and not all_css(d, "select.member-role") and not all_css(d, "button.remove-member"), "no member changes"
    # The doctor's own hours are theirs to change (the picker starts on them); another doctor's are not.
    visible(d, "#availability-save")
    Select(css(d, "#doctor-pick")).select_by_value(other_doctor)
    visible(d, "#availability-readonly")
    assert not all_css(d, "#availability-save") and not all_css(d, "#add-hours")
    d.get(d.current_url.split("#")[0] + "#/bundle")
    visible(d, "#bundle-admin-only")
    assert not all_css(d, "#bundle-send"), "no bundle sending"


def test_admin_doctor_edits_the_clinic_but_not_the_members(driver, clinic):
    d = driver
    email = f"admin-{secrets.token_hex(3)}@browser.test"
    jobs("user", "create", "--email", email, "--workspace", clinic.workspace, "--role", "admin_doctor", "--name", "Dr. Admin",
         "--password-env", "BROWSER_PW")
    sign_in(d, email)
    settings(d)
    visible(d, "#clinic-save")
    visible(d, "#audit-log")
    wait(d, lambda d: all_css(d, "button.sid-save"), message="Content SIDs editable")
    # Any doctor's hours, not only their own.
    Select(css(d, "#doctor-pick")).select_by_value(clinic.doctor_id)
    visible(d, "#availability-save")
    wait(d, lambda d: member_row(d, email), message="the members listed")
    assert not all_css(d, "#member-form") and not all_css(d, "select.member-role") and not all_css(d, "button.remove-member"), \
        "only owners change members"


def test_every_string_in_english_and_spanish(driver, clinic):
    """Each key of web/js/i18n.js exists in both languages, and the settings render in Spanish."""
    src = open(os.path.join(ROOT, "web", "js", "i18n.js"), encoding="utf-8").read()
    en, es = src[src.index("  en: {"):src.index("  es: {")], src[src.index("  es: {"):src.index("export const LANGUAGES")]
    # key: 'value' pairs, each value consumed whole (a colon inside a value is not a key).
    keys = lambda block: {m.group(1) or m.group(2) for m in re.finditer(r"(?:'([\w.\-]+)'|\b(\w+))\s*:\s*'(?:[^'\\]|\\.)*'", block)}
    assert len(keys(en)) > 250, "the key pattern still reads i18n.js"
    assert keys(en) - keys(es) == set(), "only in English: " + ", ".join(sorted(keys(en) - keys(es)))
    assert keys(es) - keys(en) == set(), "only in Spanish: " + ", ".join(sorted(keys(es) - keys(en)))
    d = driver
    sign_in(d, clinic.doctor)
    settings(d)
    Select(css(d, "#lang")).select_by_value("es")
    try:
        text_in(d, "#clinic-title", "Perfil de la clínica")
        text_in(d, "#doctors-title", "Médicos y sus horarios")
        text_in(d, "#members-title", "Miembros")
    finally:
        Select(css(d, "#lang")).select_by_value("en")
    text_in(d, "#clinic-title", "Clinic profile")


@pytest.mark.allow_console(r"401 \(Unauthorized\)")
def test_sessions_listed_one_ended_then_sign_out_everywhere(driver, clinic):
    """Settings → Sessions lists the user's own sessions (this one marked), ends another one, and
    "Sign out everywhere" ends every session, this one included (back to the sign-in page)."""
    d = driver
    status, body = http("POST", APP + "/api/auth/login", {"email": clinic.doctor, "password": PASSWORD}, {"User-Agent": "Elsewhere/9.9"})
    assert status == 200, body
    other = body["token"]
    sign_in(d, clinic.doctor)
    mine = token(d)
    settings(d)
    css(d, ".toc button[data-section=sessions]").send_keys(Keys.ENTER)
    text_in(d, "#sessions-title", "Sessions")
    text_in(d, "#sessions-list", "This session")
    # This browser by name (headless Chromium on Linux), not its raw User-Agent; an unknown one as it is.
    mine_row = [r for r in all_css(d, "#sessions-list tbody tr") if "This session" in r.text][0]
    assert "Chrome on Linux" in mine_row.text and "Mozilla/5.0" not in mine_row.text, mine_row.text
    text_in(d, "#sessions-list", "Elsewhere/9.9")
    row = [r for r in all_css(d, "#sessions-list tbody tr") if "Elsewhere/9.9" in r.text][0]
    row.find_element(By.CSS_SELECTOR, "button").click()
    text_in(d, "#sessions [role=alert]", "Session ended.")
    wait(d, lambda d: "Elsewhere/9.9" not in css(d, "#sessions-list").text)
    assert http("GET", APP + "/api/me", None, {"Authorization": "Bearer " + other})[0] == 401
    assert http("GET", APP + "/api/me", None, {"Authorization": "Bearer " + mine})[0] == 200
    css(d, "#signout-everywhere").click()
    visible(d, "dialog.confirm button.danger").click()
    visible(d, "#signin")
    assert http("GET", APP + "/api/me", None, {"Authorization": "Bearer " + mine})[0] == 401
