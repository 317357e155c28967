/// The stable code of an error the API answers with, from one catalogue (the static members below;
/// `all` lists them). `rawValue` is what clients see in `{"error":{"code":…}}`. Domain knows no HTTP
/// status: FCGIApp's `ErrorStatus` maps each code to one, in one table, and a test walks `all`
/// against it.
///
/// Three codes were answered with two statuses before this catalogue existed, and clients may rely
/// on both: they are two entries each, with the same `rawValue` and a `variant` that tells them apart
/// (`noConsent`/`noConsentInBundle`, `twilioUnavailable`/`twilioNoAnswer`,
/// `unknownTemplate`/`unknownTemplateID`).
public struct ErrorCode: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    /// "" except for the second entry of a code answered with two statuses.
    public let variant: String

    init(_ rawValue: String, variant: String = "") {
        self.rawValue = rawValue
        self.variant = variant
    }

    public var description: String { rawValue }

    public static let alreadyLinked = ErrorCode("already_linked")
    public static let alreadyMember = ErrorCode("already_member")
    public static let appointmentCancelled = ErrorCode("appointment_cancelled")
    public static let appointmentNotPending = ErrorCode("appointment_not_pending")
    public static let authBusy = ErrorCode("auth_busy")
    public static let badThrottleRow = ErrorCode("bad_throttle_row")
    public static let breachedPassword = ErrorCode("breached_password")
    public static let badTokenRow = ErrorCode("bad_token_row")
    public static let consentConfirmationRequired = ErrorCode("consent_confirmation_required")
    public static let databaseUnavailable = ErrorCode("database_unavailable")
    public static let doctorNotFound = ErrorCode("doctor_not_found")
    public static let emptyBody = ErrorCode("empty_body")
    public static let fernetKeyMissing = ErrorCode("fernet_key_missing")
    public static let fileTooLarge = ErrorCode("file_too_large")
    public static let forbidden = ErrorCode("forbidden")
    public static let idempotencyKeyReused = ErrorCode("idempotency_key_reused")
    public static let internalError = ErrorCode("internal_error")
    public static let invalidCredentials = ErrorCode("invalid_credentials")
    public static let invitationNotFound = ErrorCode("invitation_not_found")
    public static let invalidEmail = ErrorCode("invalid_email")
    public static let invalidFile = ErrorCode("invalid_file")
    public static let invalidFrom = ErrorCode("invalid_from")
    public static let invalidIdempotencyKey = ErrorCode("invalid_idempotency_key")
    public static let invalidName = ErrorCode("invalid_name")
    public static let invalidSignature = ErrorCode("invalid_signature")
    public static let invalidTimezone = ErrorCode("invalid_timezone")
    public static let lastOwner = ErrorCode("last_owner")
    public static let linkedToOtherWorkspace = ErrorCode("linked_to_other_workspace")
    public static let methodNotAllowed = ErrorCode("method_not_allowed")
    public static let missingAccount = ErrorCode("missing_account")
    public static let missingFrom = ErrorCode("missing_from")
    public static let missingMessageSid = ErrorCode("missing_message_sid")
    public static let missingPhoneColumn = ErrorCode("missing_phone_column")
    public static let missingStatus = ErrorCode("missing_status")
    public static let missingVariables = ErrorCode("missing_variables")
    public static let noActiveSender = ErrorCode("no_active_sender")
    public static let noConsentInBundle = ErrorCode("no_consent", variant: "bundle")
    public static let noConsent = ErrorCode("no_consent")
    public static let noNumbersAvailable = ErrorCode("no_numbers_available")
    public static let noValidRecipients = ErrorCode("no_valid_recipients")
    public static let notFound = ErrorCode("not_found")
    public static let numberNotInAccount = ErrorCode("number_not_in_account")
    /// A tenant asked for a number that is not theirs to link: the platform's, another clinic's, or
    /// not on their subaccount. One code for every case, so it tells nobody whose number it is.
    public static let numberNotAvailable = ErrorCode("number_not_available")
    public static let passwordListUnavailable = ErrorCode("password_list_unavailable")
    public static let patientExists = ErrorCode("patient_exists")
    public static let patientNotFound = ErrorCode("patient_not_found")
    public static let payloadTooLarge = ErrorCode("payload_too_large")
    public static let provisionedSenderGone = ErrorCode("provisioned_sender_gone")
    public static let provisioningInProgress = ErrorCode("provisioning_in_progress")
    public static let requestInProgress = ErrorCode("request_in_progress")
    public static let sessionNotFound = ErrorCode("session_not_found")
    public static let senderCredentialsInvalid = ErrorCode("sender_credentials_invalid")
    public static let senderInactive = ErrorCode("sender_inactive")
    /// A workspace took as many numbers (or Twilio subaccounts) as `SenderLimits` allows.
    public static let senderQuotaExceeded = ErrorCode("sender_quota_exceeded")
    public static let slotTaken = ErrorCode("slot_taken")
    public static let subaccountCredentialsRejected = ErrorCode("subaccount_credentials_rejected")
    public static let subaccountInactive = ErrorCode("subaccount_inactive")
    public static let tokenExpired = ErrorCode("token_expired")
    public static let tooManyAttempts = ErrorCode("too_many_attempts")
    public static let tooManyCells = ErrorCode("too_many_cells")
    public static let tooManyColumns = ErrorCode("too_many_columns")
    public static let tooManyRecipients = ErrorCode("too_many_recipients")
    public static let tooManyRequests = ErrorCode("too_many_requests")
    public static let tooManyRows = ErrorCode("too_many_rows")
    public static let tooManySenders = ErrorCode("too_many_senders")
    public static let twilioError = ErrorCode("twilio_error")
    public static let twilioNotConfigured = ErrorCode("twilio_not_configured")
    public static let twilioUnavailable = ErrorCode("twilio_unavailable")
    public static let twilioNoAnswer = ErrorCode("twilio_unavailable", variant: "no_answer")
    public static let unauthorized = ErrorCode("unauthorized")
    public static let unknownPlaceholders = ErrorCode("unknown_placeholders")
    public static let unknownTemplate = ErrorCode("unknown_template")
    public static let unknownTemplateID = ErrorCode("unknown_template", variant: "path")
    public static let unsupportedFile = ErrorCode("unsupported_file")
    public static let unsupportedLanguage = ErrorCode("unsupported_language")
    public static let userExists = ErrorCode("user_exists")
    public static let userNotFound = ErrorCode("user_not_found")
    public static let validationFailed = ErrorCode("validation_failed")
    public static let weakPassword = ErrorCode("weak_password")
    public static let webhookBaseUrlMissing = ErrorCode("webhook_base_url_missing")
    public static let windowClosed = ErrorCode("window_closed")
    public static let workspaceNotFound = ErrorCode("workspace_not_found")
    public static let wrongPassword = ErrorCode("wrong_password")

    /// Every code above.
    public static let all: [ErrorCode] = [
        .alreadyLinked, .alreadyMember, .appointmentCancelled, .appointmentNotPending, .authBusy,
        .badThrottleRow, .badTokenRow, .breachedPassword, .consentConfirmationRequired, .databaseUnavailable, .doctorNotFound,
        .emptyBody, .fernetKeyMissing, .fileTooLarge, .forbidden, .idempotencyKeyReused,
        .internalError, .invalidCredentials, .invitationNotFound, .invalidEmail, .invalidFile, .invalidFrom,
        .invalidIdempotencyKey, .invalidName, .invalidSignature, .invalidTimezone, .lastOwner,
        .linkedToOtherWorkspace, .methodNotAllowed, .missingAccount, .missingFrom, .missingMessageSid,
        .missingPhoneColumn, .missingStatus, .missingVariables, .noActiveSender, .noConsentInBundle,
        .noConsent, .noNumbersAvailable, .noValidRecipients, .notFound, .numberNotInAccount, .numberNotAvailable,
        .passwordListUnavailable, .patientExists, .patientNotFound, .payloadTooLarge, .provisionedSenderGone, .provisioningInProgress, .requestInProgress,
        .sessionNotFound, .senderCredentialsInvalid, .senderInactive, .senderQuotaExceeded, .slotTaken, .subaccountCredentialsRejected, .subaccountInactive,
        .tokenExpired, .tooManyAttempts, .tooManyCells, .tooManyColumns, .tooManyRecipients,
        .tooManyRequests, .tooManyRows, .tooManySenders, .twilioError, .twilioNotConfigured,
        .twilioUnavailable, .twilioNoAnswer, .unauthorized, .unknownPlaceholders, .unknownTemplate,
        .unknownTemplateID, .unsupportedFile, .unsupportedLanguage, .userExists, .userNotFound, .validationFailed,
        .weakPassword, .webhookBaseUrlMissing, .windowClosed, .workspaceNotFound, .wrongPassword,
    ]
}

/// An error the API answers with: a stable `code` for programs, a `message` for people, and
/// optionally the seconds after which a retry may succeed (sent as `Retry-After`). No HTTP status:
/// that is the app's business (`ErrorStatus` in FCGIApp); the jobs map errors to exit codes
/// (`JobsExit`). Rendered as `{"error":{"code":"...","message":"..."}}`.
public struct AppError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: ErrorCode
    public let message: String
    /// Seconds after which a retry may succeed (429/503); sent as `Retry-After`.
    public let retryAfter: Int?

    public init(_ code: ErrorCode, _ message: String, retryAfter: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public static let notFound = AppError(.notFound, "Not found.")
    public static let methodNotAllowed = AppError(.methodNotAllowed, "Method not allowed.")
    public static let unauthorized = AppError(.unauthorized, "Authentication required.")
    public static let forbidden = AppError(.forbidden, "You are not allowed to do this.")
    public static let payloadTooLarge = AppError(.payloadTooLarge, "The request body is too large.")
    public static let tooManyRequests = AppError(.tooManyRequests, "Too many requests; retry later.")
    public static let databaseUnavailable = AppError(.databaseUnavailable, "The database is unavailable; retry later.")
    /// The only thing a client learns of an unexpected failure; details go to the log.
    public static let `internal` = AppError(.internalError, "Internal server error.")

    public var description: String { "AppError(\(code.rawValue)): \(message)" }
}
