#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into Fuzz/corpus/<Target>/seed-* (standard library only):
    python3 Fuzz/make_seeds.py
Files not named seed-* (inputs that once crashed a target, kept as regressions) are left alone."""
import glob, io, os, zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for old in glob.glob(os.path.join(d, "seed-*")):
        os.remove(old)
    for name, data in seeds.items():
        open(os.path.join(d, "seed-" + name), "wb").write(data if isinstance(data, bytes) else data.encode())


def sheet_xml(rows):
    return f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{NS}"><sheetData>{rows}</sheetData></worksheet>'


def xlsx(rows, shared, method=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    z = zipfile.ZipFile(buf, "w", method)
    z.writestr("xl/workbook.xml", f'<workbook xmlns="{NS}" xmlns:r="{REL}"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>')
    z.writestr("xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{PKG}"><Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
    z.writestr("xl/sharedStrings.xml", f'<sst xmlns="{NS}">' + "".join(f"<si><t>{s}</t></si>" for s in shared) + "</sst>")
    z.writestr("xl/worksheets/sheet1.xml", sheet_xml(rows))
    z.close()
    return buf.getvalue()


def c(ref, v, t=None):
    return '<c r="%s"%s><v>%s</v></c>' % (ref, ' t="%s"' % t if t else "", v)


good_rows = ('<row r="1">' + c("A1", 0, "s") + c("B1", 1, "s") + c("C1", 2, "s") + "</row>"
             '<row r="2">' + c("A2", 3, "s") + c("B2", "+525512345678", "str") + c("C2", "es", "str") + "</row>"
             '<row r="3"><c r="A3" t="inlineStr"><is><t>Inline</t></is></c>' + c("B3", "14155550102") + c("C3", "1", "b") + "</row>")
shared = ["Nombre", "Tel&#233;fono", "Idioma", "Ana L&#243;pez"]

write("FuzzForm", {
    "twilio": "SmsMessageSid=SM1&NumMedia=0&ProfileName=Ana&Body=Hola+quiero+una+cita%21&To=whatsapp%3A%2B15550001000"
              "&From=whatsapp%3A%2B5215512345678&MessageSid=SM1&AccountSid=AC1&ApiVersion=2010-04-01",
    "repeats": "a=1&b=x+y&b=%C3%A9&&c&d=",
    "bad-escape": "a=%zz&b=%4",
    "nul": "a=%00&b=1",
    "latin1": b"a=\xe9",
})
write("FuzzMultipart", {
    "csv": "multipart/form-data; boundary=X\n--X\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n"
           "Content-Type: text/csv\r\n\r\nname,phone\r\nAna,+14155550100\r\n--X\r\nContent-Disposition: form-data; "
           "name=\"default_country_code\"\r\n\r\n52\r\n--X--\r\n",
    "quoted": "multipart/form-data; boundary=\"a b\\\"c\"; charset=utf-8\npreamble\r\n--a b\"c\r\nContent-Disposition: form-data; "
              "name=\"x\"\r\n\r\n\r\n--a b\"c--",
    "truncated": "multipart/form-data; boundary=Z\n--Z\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nno end",
    "not-multipart": "text/plain\nhello",
})
write("FuzzCSV", {
    "semicolons": "\ufeffNombre;Tel\u00e9fono;IDIOMA;Cita\r\nAna L\u00f3pez;+52 55 1234 5678;es;lunes\r\n\"D\u00edaz; Pedro\";+34 600 123 456;es;\"jueves, 9:00\"\r\n",
    "tabs": "name\tphone\n\"Ana, M\"\t+14155550100\n",
    "latin1": b"Nombre;Tel\xe9fono\nJos\xe9;+14155550100\n",
    "quotes": "a,\"b\"\"c\",\"d\ne\"\r\n1,2,3\r\r\n,,\n\"x\"y,\"unterminated",
    "wide": "," * 150 + "\nphone\n+14155550100\n",
    "nul": b"phone\n+1415\x00\n",
    "no-phone": "name,email\nAna,a@x.com\n",
})
write("FuzzXLSX", {
    "patients.xlsx": xlsx(good_rows, shared),
    "deflated.xlsx": xlsx(good_rows, shared, zipfile.ZIP_DEFLATED),
    "overflowing-ref.xlsx": xlsx('<row r="1">' + c("A1", "phone", "str") + "</row><row r=\"2\">" + c("AAAAAAAAAAAAAAAAAAAA2", "1") + "</row>", []),
    "sheet.xml": sheet_xml(good_rows),
    "xfd.xml": sheet_xml('<row r="1">' + c("A1", "phone", "str") + '<c r="XFD1" s="1"/></row><row r="1048576">' + c("A1048576", "+14155550100", "str") + "</row>"),
    "xfe.xml": sheet_xml('<row r="1">' + c("XFE1", "x", "str") + "</row>"),
    "shared.xml": f'<sst xmlns="{NS}"><si><t>a</t></si><si><r><t>b</t></r><rPh><t>x</t></rPh></si></sst>',
})
write("FuzzJSON", {
    "send": '{"patient_id": 12, "body": "Hola"}',
    "template": '{"patient_id": 1, "template_id": "appt_reminder", "variables": {"1": "lunes"}, "language": "es"}',
    "link": '{"phone_number": "+15550001000", "display_name": "Demo", "twilio_subaccount_sid": "AC1", "twilio_subaccount_token": "t"}',
    "bundle": '{"body": "Hola {name}", "consent_confirmed": true, "recipients": [{"phone": "+14155550001", "name": null, "fields": {"cita": "lunes"}}]}',
    "reminders": '{"enabled": true, "hours_before": 24, "template_key": "appt_reminder", "custom_message": null, "language": "es"}',
    "nul-escape": '{"email": "a\\u0000@x", "password": "p"}',
    "escaped-backslash": '{"email": "a\\\\u0000@x", "password": "p"}',
    "deep": "[" * 200 + "]" * 200,
})
write("FuzzSignatureURL", {
    "forwarded": "/api/webhooks/whatsapp?x=1\napp.example.com\nhttps\n127.0.0.1:8080\n\nBody=Hi&To=whatsapp%3A%2B1555\nabc=",
    "base": "api/webhooks/whatsapp/status\n\n\n\nhttps://app.example.com//\nMessageStatus=read\n",
    "host-only": "/api/webhooks/whatsapp\n\n\nlocalhost:18080\n\n\n",
    "lists": "/x\na.example, b.example\nHTTPS, http\n\n\n\n",
})
write("FuzzPendingOffer", {
    "jsonb": '{"kind": "slots", "slots": [{"n": 1, "label": "slot 12", "ends_at": 1796001800, "doctor_id": 7, "starts_at": 1796000000}], "language": "en"}',
    "spanish-reschedule": '{"kind": "slots", "slots": [{"n": 1, "label": "mi\u00e9 3 dic a las 9:00", "ends_at": 2, "doctor_id": 7, "starts_at": 1}, '
                          '{"n": 2, "label": "ma\u00f1ana a las 14:30", "ends_at": 4, "doctor_id": 8, "starts_at": 3}], "language": "es", "reschedule_of": 42}',
    "app": '{"kind":"slots","language":"en","reschedule_of":null,"slots":[{"doctor_id":9,"ends_at":1900,"label":"today at 9:00 AM","n":3,"starts_at":100}]}',
    "other-kind": ' {"slots": [], "language": "en", "kind": "other"} ',
    "escape": '{"kind": "slots", "slots": [], "language": "e\\"n"}',
    "float": '{"kind": "slots", "slots": [{"n": 1.0, "label": "", "ends_at": 2, "doctor_id": 7, "starts_at": 1}], "language": "en"}',
})
