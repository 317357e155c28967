@testable import Domain
@testable import Store
import FastCGI
import Foundation
import Testing
import TestSupport
@testable import FCGIApp

/// The error catalogue (Domain's `ErrorCode.all`) against the one status table (FCGIApp's
/// `ErrorStatus`) and the OpenAPI document.
@Suite struct ErrorCatalogueTests {
    /// Every code the API answered before the catalogue existed, with the status it had then (when
    /// AppError carried its status): none may change. The variant tells apart the entries of a code
    /// that was answered with two statuses.
    static let before: [(code: String, variant: String, status: Int)] = [
        ("already_linked", "", 409),
        ("already_member", "", 409),
        ("appointment_cancelled", "", 409),
        ("appointment_not_pending", "", 409),
        ("auth_busy", "", 503),
        ("bad_throttle_row", "", 500),
        ("bad_token_row", "", 500),
        ("breached_password", "", 400),
        ("consent_confirmation_required", "", 409),
        ("database_unavailable", "", 503),
        ("doctor_not_found", "", 404),
        ("empty_body", "", 400),
        ("fernet_key_missing", "", 500),
        ("file_too_large", "", 413),
        ("forbidden", "", 403),
        ("idempotency_key_reused", "", 422),
        ("internal_error", "", 500),
        ("invalid_credentials", "", 401),
        ("invitation_not_found", "", 404),
        ("invalid_email", "", 400),
        ("invalid_file", "", 400),
        ("invalid_from", "", 400),
        ("invalid_idempotency_key", "", 400),
        ("invalid_name", "", 400),
        ("invalid_signature", "", 403),
        ("invalid_timezone", "", 400),
        ("last_owner", "", 409),
        ("linked_to_other_workspace", "", 409),
        ("method_not_allowed", "", 405),
        ("missing_account", "", 400),
        ("missing_from", "", 400),
        ("missing_message_sid", "", 400),
        ("missing_phone_column", "", 400),
        ("missing_status", "", 400),
        ("missing_variables", "", 400),
        ("no_active_sender", "", 409),
        ("no_consent", "bundle", 400),
        ("no_consent", "", 422),
        ("no_numbers_available", "", 409),
        ("no_valid_recipients", "", 400),
        ("not_found", "", 404),
        ("number_not_in_account", "", 422),
        ("number_not_available", "", 422),
        ("patient_exists", "", 409),
        ("patient_not_found", "", 404),
        ("password_list_unavailable", "", 503),
        ("payload_too_large", "", 413),
        ("provisioned_sender_gone", "", 409),
        ("provisioning_in_progress", "", 409),
        ("request_in_progress", "", 409),
        ("sender_credentials_invalid", "", 500),
        ("sender_inactive", "", 409),
        ("sender_quota_exceeded", "", 429),
        ("slot_taken", "", 409),
        ("subaccount_credentials_rejected", "", 422),
        ("subaccount_inactive", "", 422),
        ("token_expired", "", 401),
        ("too_many_attempts", "", 429),
        ("too_many_cells", "", 413),
        ("too_many_columns", "", 413),
        ("too_many_recipients", "", 400),
        ("too_many_requests", "", 429),
        ("too_many_rows", "", 413),
        ("too_many_senders", "", 409),
        ("twilio_error", "", 502),
        ("twilio_not_configured", "", 500),
        ("twilio_unavailable", "", 503),
        ("twilio_unavailable", "no_answer", 504),
        ("unauthorized", "", 401),
        ("unknown_placeholders", "", 400),
        ("unknown_template", "", 400),
        ("unknown_template", "path", 404),
        ("unsupported_file", "", 415),
        ("unsupported_language", "", 400),
        ("user_exists", "", 409),
        ("user_not_found", "", 404),
        ("session_not_found", "", 404),
        ("validation_failed", "", 400),
        ("weak_password", "", 400),
        ("webhook_base_url_missing", "", 500),
        ("window_closed", "", 409),
        ("workspace_not_found", "", 404),
        ("wrong_password", "", 403),
    ]

    @Test func everyCodeOfTheCatalogueHasAStatusInTheTableAndNothingElseIsThere() {
        for code in ErrorCode.all {
            #expect(ErrorStatus.table[code] != nil, "\(code.rawValue) (\(code.variant)) has no status")
        }
        #expect(Set(ErrorCode.all).count == ErrorCode.all.count, "a code is listed twice")
        #expect(Set(ErrorStatus.table.keys) == Set(ErrorCode.all), "the table has a code the catalogue lacks")
    }

    @Test func everyCodeKeepsTheStatusItWasAnsweredWithBefore() {
        func key(_ code: String, _ variant: String, _ status: Int) -> String { "\(code)/\(variant)=\(status)" }
        let now = Set(ErrorCode.all.map { key($0.rawValue, $0.variant, ErrorStatus.table[$0] ?? 0) })
        let then = Set(Self.before.map { key($0.code, $0.variant, $0.status) })
        #expect(now.subtracting(then).sorted() == [], "new or changed")
        #expect(then.subtracting(now).sorted() == [], "gone or changed")
    }

    @Test func aCodeMissingFromTheTableIsAnswered500InternalErrorWithoutItsMessage() throws {
        let response = Response.error(AppError(ErrorCode("not_in_the_table"), "row value +5215512345678"))
        #expect(response.status == 500)
        let body = String(decoding: response.body, as: UTF8.self)
        #expect(body == #"{"error":{"code":"internal_error","message":"Internal server error."}}"#, "\(body)")
    }

    @Test func aCodeIsAnsweredWithItsTableStatusMessageAndRetryAfter() throws {
        let response = Response.error(AppError(.tooManyAttempts, "Too many failed sign-ins.", retryAfter: 90))
        #expect(response.status == 429)
        #expect(response.header("Retry-After") == "90")
        #expect(try errorBody(response).error.code == "too_many_attempts")
        #expect(Response.error(AppError(.twilioNoAnswer, "x")).status == 504)
        #expect(Response.error(AppError(.twilioUnavailable, "x")).status == 503)
        #expect(try errorBody(Response.error(AppError(.twilioNoAnswer, "x"))).error.code == "twilio_unavailable")
    }

    /// Where the OpenAPI document names codes for a status ("400 codes: no_consent, …", "415: …"),
    /// each code of the catalogue it names is answered with that status.
    @Test func theCodesTheOpenAPIDocumentNamesHaveItsStatuses() throws {
        let doc = String(decoding: OpenAPIDocument.bytes, as: UTF8.self)
        let statusOf = Dictionary(grouping: ErrorCode.all, by: \.rawValue).mapValues { Set($0.compactMap { ErrorStatus.table[$0] }) }
        let listing = try Regex(#"([1-5][0-9][0-9])(?: codes?)?: ([^"]*?)(?=\. [1-5][0-9][0-9](?: codes?)?: |\.?"|\. [A-Z])"#)
        let word = try Regex(#"[a-z]+(?:_[a-z]+)+"#)
        var checked = 0
        for match in doc.matches(of: listing) {
            guard let statusText = match.output[1].substring, let status = Int(statusText), let list = match.output[2].substring else { continue }
            for w in list.matches(of: word) {
                let code = String(list[w.range])
                guard let statuses = statusOf[code] else { continue }   // a FastCGI BodyError code (malformed_multipart, …)
                #expect(statuses.contains(status), "openapi.json says \(status) for \(code); the table: \(statuses.sorted())")
                checked += 1
            }
        }
        #expect(checked >= 15, "the document's code lists were not found (\(checked) codes checked)")
    }
}
