import Domain
import FastCGI
import Foundation
import FuzzSupport

// libFuzzer target: JSON request bodies as the handlers read them (Request.decodeJSON: UTF-8 and NUL
// checks, JSONDecoder, the error messages naming the field). The body types of the API: the Domain
// ones, and the shapes of the route-local ones (FCGIApp is an executable and cannot be imported).
// A decoded string never holds a NUL.
struct SendBody: Decodable { let patient_id: Int64; let body: String }
struct SendTemplateBody: Decodable { let patient_id: Int64; let template_id: String; let variables: [String: String]?; let language: String? }
struct LinkBody: Decodable { let phone_number: String; let display_name: String?; let twilio_subaccount_sid: String?; let twilio_subaccount_token: String? }
struct ProvisionBody: Decodable { let clinic_name: String; let country: String?; let area_code: String? }
struct LoginBody: Decodable { let email: String; let password: String }

func noNUL(_ strings: String?...) {
    for s in strings { precondition(!(s ?? "").utf8.contains(0), "a NUL got through the JSON body reader") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    let request = Request(method: "POST", uri: "/api/x", headers: ["Content-Type": "application/json"], body: bytes)
    do {
        let b: SendBody = try request.decodeJSON()
        noNUL(b.body)
    } catch {}
    do {
        let b: SendTemplateBody = try request.decodeJSON()
        noNUL(b.template_id, b.language)
        for (k, v) in b.variables ?? [:] { noNUL(k, v) }
    } catch {}
    do {
        let b: LinkBody = try request.decodeJSON()
        noNUL(b.phone_number, b.display_name, b.twilio_subaccount_sid, b.twilio_subaccount_token)
    } catch {}
    do {
        let b: ProvisionBody = try request.decodeJSON()
        noNUL(b.clinic_name, b.country, b.area_code)
    } catch {}
    do {
        let b: LoginBody = try request.decodeJSON()
        noNUL(b.email, b.password)
    } catch {}
    do {
        let u: ReminderSettings.Update = try request.decodeJSON()
        noNUL(u.templateKey, u.customMessage, u.language)
    } catch {}
    do {
        let input: Bundles.SendInput = try request.decodeJSON()
        noNUL(input.body)
        for r in input.recipients { noNUL(r.name, r.phone, r.language) }
    } catch {}
    return 0
}

@_cdecl("FuzzJSON_main")
public func fuzzJSONMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { fuzzJSON($0, $1) }
}
