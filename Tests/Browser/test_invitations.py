"""Members join by invitation (issue 22): the owner invites from Settings → Members and is shown the
link once; pending invitations are listed and can be withdrawn; the invitee opens the link, sets a
password of their own (no account yet) or signs in with their account's, and lands in the clinic.
Screenshots of the owner's and the invitee's pages, desktop and 360 px, in English and Spanish."""
import os
import secrets

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import (APP, PASSWORD, SHOTS, all_css, api, css, http, jobs, no_sideways_scroll, phone_width, sign_in, text_in, visible,
                      wait)


def invitation_row(d, email):
    return next((r for r in all_css(d, "#invitations-table tbody tr") if r.get_attribute("data-email") == email), None)


def members_section(d):
    d.get(APP + "/#/settings")
    d.refresh()
    visible(d, "#member-form")
    d.execute_script("document.getElementById('members').scrollIntoView()")


def shots(d, name, at=None):
    """The page as it is now, scrolled to `at` (a selector; else the top): desktop (1280 px) and phone
    (360 px, which must not scroll sideways)."""
    os.makedirs(SHOTS, exist_ok=True)
    scroll = (lambda: d.execute_script("document.querySelector(arguments[0]).scrollIntoView()", at)) if at else \
        (lambda: d.execute_script("window.scrollTo(0, 0)"))
    d.set_window_size(1280, 1000)
    try:
        scroll()
        d.save_screenshot(os.path.join(SHOTS, name + ".png"))
    finally:
        d.set_window_size(1280, 860)
    phone_width(d, True)
    try:
        wait(d, lambda d: d.execute_script("return window.innerWidth") <= 360, message="phone width")
        assert no_sideways_scroll(d), name + " at 360 px"
        scroll()
        d.save_screenshot(os.path.join(SHOTS, name + "-360.png"))
    finally:
        phone_width(d, False)


def invite(d, email, name=None, role="doctor", created="Invitation created for "):
    field = visible(d, "#member-email")
    field.clear()
    field.send_keys(email)
    css(d, "#member-name").clear()
    if name:
        css(d, "#member-name").send_keys(name)
    Select(css(d, "#member-role")).select_by_value(role)
    css(d, "#member-add").click()
    text_in(d, "#members [role=alert]", created + email)
    wait(d, lambda d: invitation_row(d, email), message=email + " pending")
    return visible(d, "#invite-url").get_attribute("value")


def open_link(d, link):
    d.get(APP + "/")
    d.execute_script("sessionStorage.clear()")
    d.get(link)
    d.refresh()
    visible(d, "#invite")


@pytest.mark.allow_console(r"404 \(Not Found\)")
def test_owner_invites_and_withdraws_and_a_new_invitee_sets_her_own_password(driver, clinic):
    d = driver
    sign_in(d, clinic.owner)
    members_section(d)
    tag = secrets.token_hex(3)
    newdoc, withdrawn = f"dra-{tag}@browser.test", f"gone-{tag}@browser.test"
    link = invite(d, newdoc, "Dra. Invitada")
    assert "/#/invite/inv_" in link, link
    assert not all_css(d, "#member-password"), "the owner chooses no password"
    gone_link = invite(d, withdrawn, role="staff")
    shots(d, "invite-owner-en", at="#member-form")
    # Withdrawn: gone from the list, and its link no longer opens.
    invitation_row(d, withdrawn).find_element(By.CSS_SELECTOR, "button.revoke-invitation").click()
    text_in(d, "#members [role=alert]", "Withdrew the invitation of " + withdrawn)
    wait(d, lambda d: invitation_row(d, withdrawn) is None, message="the withdrawn invitation gone")
    assert [i["email"] for i in api(d, "GET", "/api/invitations")[1]["items"]] == [newdoc]
    Select(css(d, "#lang")).select_by_value("es")
    try:
        members_section(d)
        text_in(d, "#invitations", "Invitaciones pendientes")
        invite(d, f"es-{tag}@browser.test", "Dr. Español", created="Se creó la invitación para ")
        text_in(d, "#invite-link", "MedSync no envía correos")
        shots(d, "invite-owner-es", at="#member-form")
    finally:
        Select(css(d, "#lang")).select_by_value("en")

    open_link(d, gone_link)
    text_in(d, "#invite [role=alert]", "This invitation link is not valid")

    # The invitee: which clinic and role; a name and a password of her own.
    open_link(d, link)
    text_in(d, "#invite-about", clinic.name)
    text_in(d, "#invite-about", "Doctor")
    assert css(d, "#invite-email").get_attribute("value") == newdoc
    assert css(d, "#invite-name").get_attribute("value") == "Dra. Invitada"
    shots(d, "invite-accept-en")
    Select(css(d, "#lang")).select_by_value("es")
    try:
        text_in(d, "#invite-title", "Unirse a " + clinic.name)
        text_in(d, "#invite-submit", "Crear cuenta y unirse")
        shots(d, "invite-accept-es")
    finally:
        Select(css(d, "#lang")).select_by_value("en")
    text_in(d, "#invite-title", "Join " + clinic.name)
    visible(d, "#invite-password").send_keys("short")
    css(d, "#invite-submit").click()
    text_in(d, "#invite [role=alert]", "at least 12 characters")
    own = "her own password " + secrets.token_hex(4)
    css(d, "#invite-password").clear()
    css(d, "#invite-password").send_keys(own)
    css(d, "#invite-submit").click()
    visible(d, "nav.tabs")
    text_in(d, "#ws-name", clinic.name)
    # In: the owner sees her as a member; the link is used up; she signs in with her own password.
    status, body = http("POST", APP + "/api/invitations/lookup", {"token": link.split("#/invite/")[1]})
    assert status == 404 and body["error"]["code"] == "invitation_not_found", body
    sign_in(d, newdoc, own)
    text_in(d, "#ws-name", clinic.name)


@pytest.mark.allow_console(r"401 \(Unauthorized\)")
def test_someone_with_an_account_joins_by_signing_in(driver, clinic):
    d = driver
    tag = secrets.token_hex(3)
    other_ws = jobs("workspace", "create", "--name", f"Elsewhere {tag}", "--timezone", "UTC")
    email = f"known-{tag}@browser.test"
    jobs("user", "create", "--email", email, "--workspace", other_ws, "--role", "doctor", "--name", "Dr. Known", "--password-env", "BROWSER_PW")
    sign_in(d, clinic.owner)
    members_section(d)
    link = invite(d, email, "A name the clinic chose", role="staff")
    open_link(d, link)
    text_in(d, "#invite", "already has an account")
    assert not all_css(d, "#invite-name"), "an existing account keeps its name"
    text_in(d, "#invite-submit", "Sign in and join")
    visible(d, "#invite-password").send_keys("not the password at all")
    css(d, "#invite-submit").click()
    text_in(d, "#invite [role=alert]", "The password is wrong.")
    css(d, "#invite-password").clear()
    css(d, "#invite-password").send_keys(PASSWORD)
    css(d, "#invite-submit").click()
    visible(d, "nav.tabs")
    text_in(d, "#ws-name", clinic.name)
    me = api(d, "GET", "/api/me")[1]
    assert me["user"]["name"] == "Dr. Known", me
    assert {w["role"] for w in me["workspaces"]} == {"doctor", "staff"}, me
