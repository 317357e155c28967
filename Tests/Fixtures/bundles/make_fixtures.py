#!/usr/bin/env python3
"""Regenerates the bundle upload fixtures in this folder (python3 make_fixtures.py, standard library only).

patients_semicolon_bom.csv  UTF-8 BOM, ';' separators, CRLF, accented/upper-case headers, an extra column,
                            a missing phone, a bad phone, a duplicate (00-prefixed), an unknown language,
                            a quoted name containing ';'.
no_phone_column.csv         no phone column at all.
patients.xlsx               minimal workbook: shared strings, a "str" cell, an inline string, a phone stored
                            as a number (its "+" lost), an escaped "&".
bomb.xlsx                   one worksheet entry that inflates to 200 MB of spaces (~200 kB compressed).
not_a_zip.xlsx              starts like a zip, is not one.
"""
import os
import zipfile

os.chdir(os.path.dirname(os.path.abspath(__file__)))

rows = [
    "Nombre;Teléfono;IDIOMA;Cita",
    "Ana López;+52 55 1234 5678;es;lunes",
    "Bob Smith;+1 (415) 555-0101;English;tuesday",
    "Sin Teléfono;;es;x",
    "Bad Number;12345;en;x",
    "Ana Again;0052 55 1234 5678;;",
    "Carla;+5215599990000;fr;x",
    '"Díaz; Pedro";+34 600 123 456;es;"jueves, 9:00"',
]
open("patients_semicolon_bom.csv", "wb").write(b"\xef\xbb\xbf" + ("\r\n".join(rows) + "\r\n").encode())
open("no_phone_column.csv", "w").write("name,email\nAna,a@x.com\n")

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"


def xlsx(path, sheet_rows, shared):
    z = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED)
    z.writestr("[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
    z.writestr("_rels/.rels", f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG}"><Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    z.writestr("xl/workbook.xml", f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{NS}" xmlns:r="{REL}"><sheets><sheet name="Pacientes" sheetId="1" r:id="rId1"/></sheets></workbook>')
    z.writestr("xl/_rels/workbook.xml.rels", f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG}"><Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/></Relationships>')
    si = "".join("<si><t>%s</t></si>" % s for s in shared)
    z.writestr("xl/sharedStrings.xml", f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{NS}" count="{len(shared)}" uniqueCount="{len(shared)}">{si}</sst>')
    z.writestr("xl/worksheets/sheet1.xml", f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{NS}"><sheetData>{sheet_rows}</sheetData></worksheet>')
    z.close()


def c(ref, v, t=None):
    return '<c r="%s"%s><v>%s</v></c>' % (ref, ' t="%s"' % t if t else "", v)


shared = ["NOMBRE", "Teléfono", "Idioma", "Ana López", "es", "Bob", "not a phone", "Zoe &amp; Co", "en"]
sheet = '<row r="1">' + c("A1", 0, "s") + c("B1", 1, "s") + c("C1", 2, "s") + "</row>"
sheet += '<row r="2">' + c("A2", 3, "s") + c("B2", "+525512345678", "str") + c("C2", 4, "s") + "</row>"
sheet += '<row r="3">' + c("A3", 5, "s") + c("B3", 6, "s") + "</row>"
sheet += '<row r="4"><c r="A4" t="inlineStr"><is><t>Inline Name</t></is></c>' + c("B4", "14155550102") + "</row>"
sheet += '<row r="5">' + c("A5", 7, "s") + c("C5", 8, "s") + c("B5", "+14155550103", "str") + "</row>"
xlsx("patients.xlsx", sheet, shared)

z = zipfile.ZipFile("bomb.xlsx", "w", zipfile.ZIP_DEFLATED, compresslevel=9)
z.writestr("xl/worksheets/sheet1.xml", b" " * (200 * 1024 * 1024))
z.close()
open("not_a_zip.xlsx", "wb").write(b"PK\x03\x04garbage that is not a zip archive at all")
