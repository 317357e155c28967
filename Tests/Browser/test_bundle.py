"""Bundle: the CSV and XLSX fixtures upload, a rejected row is fixed by typing it, an unknown
placeholder is flagged, the bundle is sent, `medsync-jobs bundles` runs, progress reaches completed."""
import os

from selenium.webdriver.common.by import By

from conftest import (ROOT, SANDBOX, http, all_css, css, jobs, new_phone, no_sideways_scroll, phone_width, psql, screenshot, sign_in, text_in,
                      visible, wait)

FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "bundles")


def upload(d, name):
    css(d, "#tab-upload").click()
    css(d, "#bundle-file").send_keys(os.path.join(FIXTURES, name))


def test_xlsx_preview(driver, clinic):
    d = driver
    sign_in(d, clinic.owner)
    d.get(d.current_url.split("#")[0] + "#/bundle")
    upload(d, "patients.xlsx")
    summary = text_in(d, "#upload-summary", "4 rows")
    assert "2 valid, 2 rejected" in summary.text, summary.text
    rows = [r.text for r in all_css(d, "#upload-result table.valid tbody tr")]
    assert any("Zoe & Co" in r for r in rows), rows
    assert any("not a phone" in r for r in [r.text for r in all_css(d, "#upload-result table.rejected tbody tr")])
    # A default country code reads the number stored without its "+".
    css(d, "#country-code").send_keys("1")
    css(d, "#bundle-title").click()  # the field's change event
    text_in(d, "#upload-summary", "3 valid, 1 rejected")
    assert any("+14155550102" in r.text for r in all_css(d, "#upload-result table.valid tbody tr"))
    css(d, "#country-code").clear()


def test_csv_fix_a_row_by_typing_send_and_progress(driver, clinic):
    d = driver
    d.refresh()  # a new bundle
    visible(d, "#bundle-file")
    upload(d, "patients_semicolon_bom.csv")
    summary = text_in(d, "#upload-summary", "7 rows")
    assert "1 duplicates merged" in summary.text, summary.text
    rejected = [r.text for r in all_css(d, "#upload-result table.rejected tbody tr")]
    assert any("missing phone" in r for r in rejected) and any("invalid phone" in r for r in rejected), rejected
    # "Bad Number;12345" is rejected: fix it by typing the right number.
    fixed = new_phone("+1415")
    css(d, "#tab-type").click()
    css(d, "#typed-numbers").send_keys(f"{fixed}, Bad Number\nnot-a-number")
    text_in(d, "#typed-result", "Bad Number")
    text_in(d, "#typed-result table.rejected", "not-a-number")
    body = css(d, "#bundle-body")
    body.send_keys("Hola {name}, su cita es el {cita}. {unknown_thing}")
    flagged = visible(d, "#unknown-placeholders")
    assert "{unknown_thing}" in flagged.text
    css(d, "#consent").click()
    assert not css(d, "#bundle-send").is_enabled(), "an unknown placeholder blocks sending"
    body.clear()
    body.send_keys("Hola {name}, su cita es el {cita}.")
    wait(d, lambda d: not css(d, "#unknown-placeholders").is_displayed())
    text_in(d, "#bundle-preview", "Hola Ana López, su cita es el lunes.")
    text_in(d, "#recipient-summary", "4 recipients")
    css(d, "#tab-upload").click()
    screenshot(d, "bundle.png", height=1500)
    css(d, "#bundle-send").click()
    status = visible(d, "#batch-status")
    assert status.get_attribute("data-status") in ("queued", "sending", "completed")
    assert len(all_css(d, "#bundle-recipients tbody tr")) == 4
    # Sent with an Idempotency-Key: a retried send would answer this batch, not queue a second one.
    batch = d.current_url.rsplit("/", 1)[-1]
    assert psql("""SELECT count(*) FROM idempotent_requests WHERE workspace_id = :'ws'::bigint AND operation = 'bundle.send'
                    AND response->>'batch_id' = :'batch'""", ws=clinic.workspace, batch=batch) == "1"
    # Three recipients wrote within 24 hours (the sandbox's window); the typed one did not.
    for phone in ["+525512345678", "+14155550101", "+34600123456"]:
        status, body = http("POST", SANDBOX + "/sandbox/patients/window", {"patient": phone, "sender": clinic.sender, "hours_ago": 1})
        assert status == 200, body
    jobs("bundles")
    wait(d, lambda d: css(d, "#batch-status").get_attribute("data-status") == "completed", timeout=30, message="bundle completed")
    rows = {r.find_element(By.CSS_SELECTOR, "td:nth-child(2)").text: r for r in all_css(d, "#bundle-recipients tbody tr")}
    assert sorted(rows) == sorted(["+525512345678", "+14155550101", "+34600123456", fixed]), list(rows)
    assert [p for p, r in rows.items() if r.get_attribute("data-status") == "sent"] != [] and \
        all(rows[p].get_attribute("data-status") == "sent" for p in ["+525512345678", "+14155550101", "+34600123456"])
    failed = rows[fixed]
    assert failed.get_attribute("data-status") == "failed"
    assert "Bad Number" in failed.text and "24 hours" in failed.text and "63016" in failed.text, failed.text
    text_in(d, "#batch-counts", "Sent: 3")
    text_in(d, "#batch-counts", "Failed: 1")
    batch = d.current_url.rsplit("/", 1)[-1]
    # The bundle is listed among the past ones, and opens its progress view again.
    css(d, "#view a[href='#/bundle']").click()
    row = wait(d, lambda d: next((r for r in all_css(d, "#past-list tbody tr") if r.get_attribute("data-id") == batch), None),
               message="the bundle in the past list")
    assert row.get_attribute("data-status") == "completed"
    assert "Hola {name}, su cita es el {cita}." in row.text and "4 in all" in row.text and "Sent: 3" in row.text, row.text
    phone_width(d, True)
    try:
        assert no_sideways_scroll(d), "bundle page with past bundles at 360 px"
    finally:
        phone_width(d, False)
    row.find_element(By.CSS_SELECTOR, "a.open-bundle").click()
    wait(d, lambda d: css(d, "#batch-status").get_attribute("data-status") == "completed")
    assert d.current_url.endswith("#/bundle/" + batch)
