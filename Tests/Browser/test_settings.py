"""Settings: reminders survive a reload, the numbers' API hints shown as they come, and a
doctor-role user is offered no admin action."""
import pytest
from selenium.webdriver.support.ui import Select

from conftest import all_css, css, sign_in, text_in, visible, wait


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


def test_doctor_sees_no_admin_actions(driver, clinic):
    d = driver
    sign_in(d, clinic.doctor)
    d.get(d.current_url.split("#")[0] + "#/settings")
    visible(d, "#rem-readonly")
    text_in(d, "#senders", clinic.sender)
    assert not all_css(d, "#rem-save"), "no save for reminders"
    assert css(d, "#rem-hours").get_attribute("disabled") is not None
    assert not all_css(d, "#link-form") and not all_css(d, "#provision-form"), "no link or provision"
    assert not all_css(d, "#senders button"), "no deactivate or make primary"
    assert not all_css(d, "#audit"), "no audit log"
    d.get(d.current_url.split("#")[0] + "#/bundle")
    visible(d, "#bundle-admin-only")
    assert not all_css(d, "#bundle-send"), "no bundle sending"
