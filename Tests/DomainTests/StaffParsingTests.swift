import Domain
import Foundation
import Testing

@Suite struct StaffParsingTests {
    @Test(arguments: [
        ("+14155550100", nil as String?, "+14155550100" as String?),
        ("whatsapp:+14155550100", nil, "+14155550100"),
        (" +52 (55) 1234-5678 ", nil, "+525512345678"),
        ("0052 55 1234 5678", nil, "+525512345678"),
        ("55 1234 5678", "52", "+525512345678"),
        ("525512345678", "52", "+525512345678"),
        ("055 1234 5678", "52", "+525512345678"),
        ("55 1234 5678", nil, nil),
        ("+0123456789", nil, nil),
        ("+123", nil, nil),
        ("+1415555010012345678", nil, nil),
        ("+1415abc0100", nil, nil),
        ("", "52", nil),
    ])
    func phoneNormalization(raw: String, country: String?, expected: String?) {
        #expect(Phone.normalize(raw, defaultCountryCode: country) == expected)
    }

    @Test func headersAreCaseAndAccentInsensitive() {
        #expect(Bundles.normalizeHeader(" Teléfono ") == "telefono")
        #expect(Bundles.normalizeHeader("NOMBRE") == "nombre")
        #expect(Bundles.normalizeHeader("Phone Number") == "phone_number")
        #expect(Bundles.normalizeHeader("Idióma") == "idioma")
        #expect(Bundles.normalizeHeader("Fecha de la Cita!") == "fecha_de_la_cita")
    }

    @Test func previewMergesDuplicatesAndKeepsFirstValues() throws {
        let table = BundleFile.Table(header: ["Phone", "Name", "Doctor"], rows: [
            ["+14155550100", "", "Dr. A"],
            ["+1 415 555 0100", "Ana", "Dr. B"],
            ["+14155550101", "Bob", ""],
        ])
        let p = try Bundles.preview(table)
        #expect(p.recipients.count == 2)
        #expect(p.recipients[0] == Bundles.Recipient(name: "Ana", phone: "+14155550100", language: nil, fields: ["doctor": "Dr. A"]))
        #expect(p.duplicatesMerged == 1)
        #expect(p.fields == ["doctor"])
    }

    @Test func csvTabsQuotesAndLatin1() throws {
        let tabs = try BundleFile.csv(Array("name\tphone\n\"Ana, M\"\t+14155550100\n".utf8))
        #expect(tabs.header == ["name", "phone"])
        #expect(tabs.rows == [["Ana, M", "+14155550100"]])
        // Excel on Windows: Windows-1252 "Teléfono" header.
        var latin: [UInt8] = Array("Nombre;Tel".utf8) + [0xE9] + Array("fono\nJos".utf8) + [0xE9] + Array(";+14155550100\n".utf8)
        let t = try BundleFile.csv(latin)
        #expect(t.header == ["Nombre", "Teléfono"])
        #expect(t.rows.first?.first == "José")
        latin = []
        #expect(throws: AppError.self) { try BundleFile.csv(latin) }
    }
}
