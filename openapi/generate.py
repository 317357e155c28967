#!/usr/bin/env python3
"""Writes Sources/FCGIApp/OpenAPI/openapi.json, the API's one OpenAPI document (embedded in
medsync-fcgi by SwiftPM's embedInCode and served at /api/openapi.json). Run after changing the API:
    python3 openapi/generate.py            # writes the file
    python3 openapi/generate.py --check    # exits 1 when the file is not what this script writes
The FCGIApp tests check that the two agree, that every router route is documented and back, and that
each operation's security and roles (x-roles, read from README.md's role table, which RoleMatrixTests
checks against the router's `allow:` declarations) are the router's."""
import json, os, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def ref(name): return {"$ref": "#/components/schemas/" + name}
def obj(props, required=()):
    o = {"type": "object", "properties": props}
    if required: o["required"] = list(required)
    return o
S = {"type": "string"}; I = {"type": "integer", "format": "int64"}; B = {"type": "boolean"}
DT = {"type": "string", "format": "date-time"}
def nullable(s): return {"anyOf": [s, {"type": "null"}]}
def arr(s): return {"type": "array", "items": s}
def smap(): return {"type": "object", "additionalProperties": {"type": "string"}}
# An id in a request body: a JSON number or a string of digits (the product guide's clients send strings).
ID = {"anyOf": [{"type": "integer", "format": "int64", "minimum": 1}, {"type": "string", "pattern": "^[0-9]{1,18}$"}]}

# Staff sends and bundle sends take an Idempotency-Key.
IDEMPOTENCY_KEY = [{"name": "Idempotency-Key", "in": "header", "required": False,
                    "description": "1 to 200 printable ASCII characters (else 400 invalid_idempotency_key); per workspace.",
                    "schema": {"type": "string", "maxLength": 200}}]
ONCE = ("With an Idempotency-Key the same request again answers the first answer and never sends twice (the same key with another "
        "request: 422 idempotency_key_reused; while the first is running: 409 request_in_progress). A Twilio 5xx or timeout is settled "
        "against Twilio's Messages list before the answer: sent (201, Twilio's SID) or not (503, safe to retry).")

schemas = {
    "Error": obj({"error": obj({"code": S, "message": S}, ["code", "message"])}, ["error"]),
    "User": obj({"id": I, "email": S, "name": nullable(S)}, ["id", "email"]),
    "WorkspaceRole": obj({"id": I, "name": S, "role": {"type": "string", "enum": ["owner", "admin_doctor", "doctor", "staff"]}}),
    "Me": obj({"user": ref("User"), "workspaces": arr(ref("WorkspaceRole"))}),
    "LoginResult": obj({"token": S, "user": ref("User"), "workspaces": arr(ref("WorkspaceRole"))}),
    "PasswordChanged": obj({"token": S, "revoked_tokens": {"type": "integer"}}),
    "Session": obj({"id": I, "created_at": DT, "last_used_at": nullable(DT), "expires_at": DT, "user_agent": nullable(S),
                    "address_prefix": nullable(S), "current": B},
                   ["id", "created_at", "last_used_at", "expires_at", "user_agent", "address_prefix", "current"]),
    "SendResult": obj({"message_id": I, "conversation_id": I, "twilio_sid": S, "status": S, "content_sid": nullable(S)}),
    "Template": obj({"id": S, "category": {"type": "string", "enum": ["utility", "marketing"]},
                     "variables": arr(S), "required_variables": arr(S), "bodies": smap(), "content_sids": smap()}),
    "Patient": obj({"id": I, "name": nullable(S), "phone": S, "preferred_language": nullable(S), "consent_whatsapp": B}),
    "Message": obj({"id": I, "direction": {"type": "string", "enum": ["inbound", "outbound"]}, "body": S, "status": S,
                    "twilio_sid": nullable(S), "error_code": nullable(I), "error_message": nullable(S), "template_key": nullable(S),
                    "media": S, "created_at": DT, "updated_at": DT}),
    "Conversation": obj({"id": I, "patient": ref("Patient"), "sender_id": I, "state": {"type": "string", "enum": ["bot", "handoff"]},
                         "unread_count": {"type": "integer"}, "last_message": nullable(ref("Message")), "last_message_at": nullable(DT),
                         "window": obj({"open": B, "ends_at": nullable(DT)})}),
    "ConversationPage": obj({"items": arr(ref("Conversation")), "next_cursor": nullable(S), "server_time": DT}),
    "MessagePage": obj({"items": arr(ref("Message")), "next_cursor": nullable(S), "server_time": DT}),
    "Appointment": obj({"id": I, "status": {"type": "string", "enum": ["pending_review", "confirmed", "cancelled"]}, "starts_at": DT,
                        "ends_at": DT, "reason": nullable(S), "patient": ref("Patient"), "doctor_id": nullable(I),
                        "doctor_name": nullable(S), "created_at": DT}),
    "ReviewOutcome": obj({"appointment": ref("Appointment"),
                          "notification": obj({"sent": B, "message_id": nullable(I), "error": nullable(smap())})}),
    "ReminderSettings": obj({"enabled": B, "hours_before": {"type": "integer", "minimum": 1, "maximum": 72},
                             "template_key": S, "custom_message": nullable(S), "language": {"type": "string", "enum": ["en", "es"]}}),
    "Sender": obj({"id": I, "phone_number": S, "display_name": S, "is_active": B, "is_primary": B, "slot": nullable({"type": "integer"}),
                   "twilio_subaccount_sid": nullable(S), "phone_number_sid": nullable(S), "created_at": DT, "deactivated_at": nullable(DT)}),
    "Deactivation": {"allOf": [ref("Sender"), obj({"number": {"type": "string", "enum": ["kept", "released"]}}, ["number"])]},
    "Recipient": obj({"name": nullable(S), "phone": S, "language": nullable(S), "fields": smap()}, ["phone"]),
    "BundlePreview": obj({"recipients": arr(ref("Recipient")), "rejected": arr(obj({"row": {"type": "integer"}, "reason": S, "values": smap()})),
                          "duplicates_merged": {"type": "integer"}, "total_rows": {"type": "integer"}, "columns": arr(S), "fields": arr(S)}),
    "BundleSummary": obj({"id": I, "status": S, "body": S, "sender_id": I, "created_by": nullable(I), "total": {"type": "integer"},
                          "counts": {"type": "object", "additionalProperties": {"type": "integer"}}, "created_at": DT,
                          "started_at": nullable(DT), "completed_at": nullable(DT), "expected_start_by": nullable(DT)}),
    "BundleEnqueued": obj({"batch_id": I, "status": S, "total": {"type": "integer"}, "expected_start_by": DT,
                           "invalid": arr(obj({"index": {"type": "integer"}, "phone": S, "reason": S}))}),
    "BundleProgress": obj({"id": I, "status": S, "body": S, "sender_id": I, "total": {"type": "integer"},
                           "counts": {"type": "object", "additionalProperties": {"type": "integer"}}, "created_at": DT,
                           "started_at": nullable(DT), "completed_at": nullable(DT), "expected_start_by": nullable(DT),
                           "recipients": arr(obj({"id": I, "name": nullable(S), "phone": S, "status": S, "attempts": {"type": "integer"},
                                                  "twilio_sid": nullable(S), "error_code": nullable(I), "error_message": nullable(S),
                                                  "sent_at": nullable(DT)}))}),
    "Clinic": obj({"id": I, "name": S, "clinic_name": S, "clinic_info": nullable(S), "address": nullable(S), "phone": nullable(S),
                   "timezone": S, "default_language": {"type": "string", "enum": ["en", "es"]}}),
    "ClinicUpdate": obj({"clinic_name": S, "clinic_info": nullable(S), "address": nullable(S), "phone": nullable(S),
                         "timezone": {"type": "string", "description": "IANA name, e.g. America/Mexico_City"},
                         "default_language": {"type": "string", "enum": ["en", "es"]}}),
    "Doctor": obj({"id": I, "name": nullable(S), "email": S, "role": {"type": "string", "enum": ["doctor", "admin_doctor"]}}),
    "WeeklyRange": obj({"weekday": {"type": "integer", "minimum": 0, "maximum": 6, "description": "0 = Sunday"},
                        "start": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"}, "end": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"},
                        "slot_minutes": {"type": "integer", "minimum": 5, "maximum": 720, "default": 30}}, ["weekday", "start", "end"]),
    "TimeOff": obj({"from": {"type": "string", "description": "local YYYY-MM-DD (start of day) or YYYY-MM-DDTHH:MM"},
                    "to": {"type": "string", "description": "local YYYY-MM-DD (end of day) or YYYY-MM-DDTHH:MM"}, "reason": nullable(S)}, ["from", "to"]),
    "Availability": obj({"weekly": arr(ref("WeeklyRange")), "time_off": arr(ref("TimeOff"))}, ["weekly"]),
    "AvailabilityView": obj({"doctor_id": I, "timezone": S, "weekly": arr(ref("WeeklyRange")),
                             "time_off": arr(obj({"from": S, "to": S, "reason": nullable(S), "starts_at": DT, "ends_at": DT}))}),
    "FreeSlots": obj({"doctor_id": I, "timezone": S, "items": arr(obj({"starts_at": DT, "ends_at": DT, "date": S, "time": S}))}),
    "PatientRecord": obj({"id": I, "name": nullable(S), "phone": S, "preferred_language": nullable({"type": "string", "enum": ["en", "es"]}),
                          "consent_whatsapp": B, "consent_updated_at": nullable(DT), "consent_source": nullable(S), "opted_out": B, "created_at": DT}),
    "PatientPage": obj({"items": arr(ref("PatientRecord")), "next_cursor": nullable(S)}),
    "PatientDetail": obj({"patient": ref("PatientRecord"), "conversation_ids": arr(I),
                          "upcoming_appointments": arr(obj({"id": I, "status": S, "starts_at": DT, "ends_at": DT, "doctor_id": nullable(I), "doctor_name": nullable(S)}))}),
    "AppointmentOutcome": obj({"appointment": ref("Appointment"),
                               "notification": nullable(obj({"sent": B, "message_id": nullable(I), "error": nullable(smap())}))}),
    "Member": obj({"user_id": I, "email": S, "name": nullable(S), "role": {"type": "string", "enum": ["owner", "admin_doctor", "doctor", "staff"]}, "created_at": DT}),
    "Invitation": obj({"id": I, "email": S, "name": nullable(S), "role": {"type": "string", "enum": ["owner", "admin_doctor", "doctor", "staff"]},
                       "status": {"type": "string", "enum": ["pending", "expired"]}, "invited_by_user_id": nullable(I),
                       "created_at": DT, "expires_at": DT}),
    "InvitationCreated": obj({"invitation": ref("Invitation"), "token": S, "invite_path": S}),
    "InvitationPreview": obj({"workspace_id": I, "workspace_name": S, "email": S, "name": nullable(S),
                              "role": {"type": "string", "enum": ["owner", "admin_doctor", "doctor", "staff"]},
                              "expires_at": DT, "needs_password": B}),
    "AuditEntry": obj({"id": I, "user_id": nullable(I), "user_email": nullable(S), "action": S, "target_type": nullable(S),
                       "target_id": nullable(S), "details": smap(), "created_at": DT}),
}

def jbody(schema): return {"required": True, "content": {"application/json": {"schema": schema}}}
def ok(status, schema, desc="OK"):
    if schema is None: return {str(status): {"description": desc}}
    return {str(status): {"description": desc, "content": {"application/json": {"schema": schema}}}}
def errors(*codes):
    return {str(c): {"description": d, "content": {"application/json": {"schema": ref("Error")}}}
            for c, d in [(400, "validation_failed (names the field), nul_character (a NUL in a form or JSON body) or another 400 code"), (401, "unauthorized, or token_expired (unused for MEDSYNC_TOKEN_TTL_SECONDS)"),
                         (403, "forbidden: not a member of X-Account-Id, or the role is not enough"), (404, "not_found (includes ids of another workspace)"),
                         (409, "conflict (stable code in error.code)"), (413, "payload_too_large (over 1 MiB; 5 MiB under /api/whatsapp/bundle/) or a file over its limits"),
                         (415, "unsupported_media_type: the body's Content-Type is not the one documented"),
                         (422, "a stable code in error.code, with a hint in error.message"),
                         (502, "twilio_error"), (503, "twilio_unavailable (Twilio busy or failing)"),
                         (504, "twilio_unavailable (no answer from Twilio)")]
            if c in codes}
staff = [{"bearer": [], "account": []}]
retry_after = {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}
throttled = {"429": {"description": "too_many_attempts: failed sign-ins of the account or address (nginx: too many requests)",
                     "headers": retry_after, "content": {"application/json": {"schema": ref("Error")}}},
             "503": {"description": "auth_busy: too many password checks at once", "headers": retry_after,
                     "content": {"application/json": {"schema": ref("Error")}}}}
quota = {"429": {"description": "sender_quota_exceeded: the workspace took as many numbers (or subaccounts) as it may", "headers": retry_after,
                 "content": {"application/json": {"schema": ref("Error")}}}}
idp = [{"name": "id", "in": "path", "required": True, "schema": I}]
def q(name, schema=S, desc=""): return {"name": name, "in": "query", "required": False, "schema": schema, "description": desc}
items = lambda s: obj({"items": arr(s)})

paths = {
    "/api/health": {"get": {"summary": "Liveness with database check", "security": [], "responses": {**ok(200, obj({"status": S, "database": S, "version": S})), **{"503": {"description": "database_unavailable"}}}}},
    "/api/ping": {"get": {"summary": "Liveness of the workers alone (no database)", "security": [], "responses": ok(200, obj({"status": S}))}},
    "/api/auth/login": {"post": {"summary": "Email + password → API token", "security": [],
                                 "requestBody": jbody(obj({"email": S, "password": S}, ["email", "password"])),
                                 "responses": {**ok(200, ref("LoginResult")), **errors(400, 401), **throttled}}},
    "/api/auth/password": {"post": {"summary": "Change the signed-in user's password; revokes every token of the user, answers a new one",
                                    "security": [{"bearer": []}],
                                    "requestBody": jbody(obj({"current_password": S, "new_password": S}, ["current_password", "new_password"])),
                                    "responses": {**ok(200, ref("PasswordChanged")), **errors(400, 401), **throttled,
                                                  "403": {"description": "wrong_password", "content": {"application/json": {"schema": ref("Error")}}}}}},
    "/api/auth/logout": {"post": {"summary": "Revoke the bearer token", "security": [{"bearer": []}], "responses": {**ok(204, None, "revoked"), **errors(401)}}},
    "/api/auth/sessions": {"get": {"summary": "The signed-in user's live sessions (never their tokens); current marks this one",
                                   "security": [{"bearer": []}], "responses": {**ok(200, items(ref("Session"))), **errors(401)}}},
    "/api/auth/sessions/{id}": {"delete": {"summary": "End one of the signed-in user's sessions (404 session_not_found for any other)",
                                           "security": [{"bearer": []}], "parameters": idp,
                                           "responses": {**ok(204, None, "ended"), **errors(400, 401, 404)}}},
    "/api/auth/logout-all": {"post": {"summary": "Sign out everywhere: revoke every token of the signed-in user, this one included",
                                      "security": [{"bearer": []}],
                                      "responses": {**ok(200, obj({"revoked_tokens": {"type": "integer"}}, ["revoked_tokens"])), **errors(401)}}},
    "/api/me": {"get": {"summary": "The user, workspaces and roles", "security": [{"bearer": []}], "responses": {**ok(200, ref("Me")), **errors(401)}}},
    "/api/whatsapp/send": {"post": {"summary": "Freeform message (inside the 24-hour window only)", "security": staff,
        "description": "Errors: patient_not_found (404), no_consent (422), no_active_sender (409), window_closed (409, use /api/whatsapp/send-template), twilio_error (502). " + ONCE,
        "parameters": IDEMPOTENCY_KEY,
        "requestBody": jbody(obj({"patient_id": ID, "body": S}, ["patient_id", "body"])),
        "responses": {**ok(201, ref("SendResult")), **errors(400, 401, 403, 404, 409, 502, 503), "422": {"description": "no_consent, idempotency_key_reused"}}}},
    "/api/whatsapp/send-template": {"post": {"summary": "In-app template; ContentSid when mapped (allowed outside the window)", "security": staff,
        "description": "variables as the product guide names them: date and time (or when), patient_name; doctor_name and clinic_name are filled from the patient's appointment and the clinic when not given. missing_variables (400) names what is missing.",
        "parameters": IDEMPOTENCY_KEY,
        "requestBody": jbody(obj({"patient_id": ID, "template_id": S, "variables": smap(), "language": {"type": "string", "enum": ["en", "es"]}}, ["patient_id", "template_id"])),
        "responses": {**ok(201, ref("SendResult")), **errors(400, 401, 403, 404, 409, 502, 503), "422": {"description": "no_consent, idempotency_key_reused"}}}},
    "/api/whatsapp/templates": {"get": {"summary": "Templates with category, variables and the workspace's Content SIDs", "security": staff,
        "responses": {**ok(200, obj({"templates": arr(ref("Template"))})), **errors(401, 403)}}},
    "/api/whatsapp/conversations": {"get": {"summary": "Inbox, newest first", "security": staff,
        "parameters": [q("q", S, "search patient name, phone and message text"), q("cursor", S, "next_cursor of the previous page"),
                       q("since", DT, "only conversations changed after it (polling; pass server_time)"), q("limit", {"type": "integer"})],
        "responses": {**ok(200, ref("ConversationPage")), **errors(400, 401, 403)}}},
    "/api/whatsapp/conversations/{id}": {
        "get": {"summary": "One conversation", "security": staff, "parameters": idp, "responses": {**ok(200, ref("Conversation")), **errors(401, 403, 404)}},
        "delete": {"summary": "Hide a conversation from the inbox", "security": staff, "parameters": idp, "responses": {**ok(204, None, "deleted"), **errors(401, 403, 404)}}},
    "/api/whatsapp/conversations/{id}/messages": {"get": {"summary": "Messages, oldest first within a page", "security": staff,
        "parameters": idp + [q("cursor", S, "next_cursor: older messages"), q("since", DT, "created or changed after (polling; pass server_time)"), q("limit", {"type": "integer"})],
        "responses": {**ok(200, ref("MessagePage")), **errors(400, 401, 403, 404)}}},
    "/api/whatsapp/conversations/{id}/handoff": {"post": {"summary": "Staff take over; the bot stays quiet", "security": staff, "parameters": idp,
        "responses": {**ok(200, ref("Conversation")), **errors(401, 403, 404)}}},
    "/api/whatsapp/conversations/{id}/resume-bot": {"post": {"summary": "Hand the conversation back to the bot", "security": staff, "parameters": idp,
        "responses": {**ok(200, ref("Conversation")), **errors(401, 403, 404)}}},
    "/api/whatsapp/pending-appointments": {"get": {"summary": "Appointments the bot booked, awaiting review", "security": staff,
        "responses": {**ok(200, items(ref("Appointment"))), **errors(401, 403)}}},
    "/api/whatsapp/pending-appointments/{id}/accept": {"post": {"summary": "Confirm + appt_confirmed WhatsApp in the patient's language", "security": staff,
        "parameters": idp, "responses": {**ok(200, ref("ReviewOutcome")), **errors(401, 403, 404, 409)}}},
    "/api/whatsapp/pending-appointments/{id}/reject": {"post": {"summary": "Cancel + a declined notice to the patient offering free times (a reply with a number books one)", "security": staff,
        "parameters": idp, "responses": {**ok(200, ref("ReviewOutcome")), **errors(401, 403, 404, 409)}}},
    "/api/whatsapp/reminder-settings": {
        "get": {"summary": "Reminder settings (defaults when never set: disabled, reminder_default, 24 h, es)", "security": staff, "responses": {**ok(200, ref("ReminderSettings")), **errors(401, 403)}},
        "put": {"summary": "Change reminder settings (owner/admin_doctor); missing fields keep their value", "security": staff,
                "requestBody": jbody(ref("ReminderSettings")), "responses": {**ok(200, ref("ReminderSettings")), **errors(400, 401, 403)}}},
    "/api/whatsapp/senders": {"get": {"summary": "The workspace's senders", "security": staff, "responses": {**ok(200, items(ref("Sender"))), **errors(401, 403)}}},
    "/api/whatsapp/link-existing": {"post": {"summary": "Link a number of the clinic's own Twilio subaccount, or take back a kept one (owner/admin_doctor)", "security": staff,
        "description": "A number this workspace kept when it deactivated it comes back (the same sender, active again). Otherwise "
                       "twilio_subaccount_sid/token are required: the Accounts API must accept them and the number must be among that "
                       "subaccount's IncomingPhoneNumbers, and no other workspace may hold it. The platform's (master account's) numbers "
                       "are assigned by the operator (medsync-jobs sender assign). 422 codes: number_not_available (the same answer "
                       "whoever's the number is), subaccount_credentials_rejected, subaccount_inactive. 409 codes: already_linked, "
                       "too_many_senders. 429: sender_quota_exceeded, past the numbers a workspace may take per day. The first active sender becomes primary.",
        "requestBody": jbody(obj({"phone_number": S, "display_name": S, "twilio_subaccount_sid": S, "twilio_subaccount_token": S}, ["phone_number"])),
        "responses": {**ok(201, ref("Sender")), **errors(400, 401, 403, 409, 422, 502, 503, 504), **quota}}},
    "/api/whatsapp/provision": {"post": {"summary": "Subaccount + number + webhooks, linked (owner/admin_doctor)", "security": staff,
        "description": "Idempotent with an Idempotency-Key header: the same key answers the same sender (a key reused for another request: "
                       "422 idempotency_key_reused). One provisioning at a time per workspace (409 provisioning_in_progress). The "
                       "workspace's Twilio subaccount is reused; 429 sender_quota_exceeded past the numbers or provisionings per day or "
                       "the subaccounts per workspace. A failed step is undone: the number released, a subaccount it opened closed.",
        "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 200}}],
        "requestBody": jbody(obj({"clinic_name": S, "country": S, "area_code": S}, ["clinic_name"])),
        "responses": {**ok(201, ref("Sender")), **errors(400, 401, 403, 409, 422, 502, 503, 504), **quota}}},
    "/api/whatsapp/senders/{id}/deactivate": {"post": {"summary": "Deactivate; the primary moves to another active sender; the number is kept or released (owner/admin_doctor)",
        "description": "{\"release\": true} or {\"mode\": \"release\"} gives the number back to Twilio (DELETE IncomingPhoneNumbers) and "
                       "ends the workspace's hold on it; without a body, or with release false / mode keep, the workspace keeps the number "
                       "(no other workspace can link it; link-existing takes it back). The answer's number says which happened. An inactive "
                       "sender whose number was kept may be deactivated again with release. 409 sender_inactive otherwise.",
        "requestBody": {"required": False, "content": {"application/json": {"schema": obj({"release": B, "mode": {"type": "string", "enum": ["release", "keep"]}})}}},
        "security": staff, "parameters": idp, "responses": {**ok(200, ref("Deactivation")), **errors(400, 401, 403, 404, 409, 502, 503, 504)}}},
    "/api/whatsapp/senders/{id}/make-primary": {"post": {"summary": "Make this active sender the primary (owner/admin_doctor)",
        "security": staff, "parameters": idp, "responses": {**ok(200, ref("Sender")), **errors(401, 403, 404, 409)}}},
    "/api/whatsapp/bundle/preview": {"post": {"summary": "Read a .csv or .xlsx list: valid recipients and rejected rows", "security": staff,
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": obj({"file": {"type": "string", "contentMediaType": "application/octet-stream"},
                                                                                              "default_country_code": S}, ["file"])}}},
        "description": "A body over 5 MiB is 413 payload_too_large (nginx and the app). 400 codes: invalid_file (unreadable, a cell reference past XFD / row 1048576, "
                       "NUL bytes in a CSV), missing_phone_column, malformed_multipart. 413 codes: too_many_rows (20,000), too_many_columns (100), "
                       "too_many_cells (400,000), file_too_large (an .xlsx expanding past 32 MiB). 415: unsupported_file (.xls), unsupported_media_type.",
        "responses": {**ok(200, ref("BundlePreview")), **errors(400, 401, 403, 413),
                      "415": {"description": "unsupported_file or unsupported_media_type", "content": {"application/json": {"schema": ref("Error")}}}}}},
    "/api/whatsapp/bundle/send": {"post": {"summary": "Enqueue a bundle of the valid recipients (owner/admin_doctor, ≤ 250 valid recipients, consent_confirmed); invalid ones are listed in the answer", "security": staff,
        "description": "400 codes: no_consent, validation_failed, no_valid_recipients, too_many_recipients, unknown_placeholders, invalid_idempotency_key. "
                       "With an Idempotency-Key the same request again answers the same batch, never a second one (the same key with another request: 422 idempotency_key_reused).",
        "parameters": IDEMPOTENCY_KEY,
        "requestBody": jbody(obj({"body": S, "recipients": arr(ref("Recipient")), "consent_confirmed": B}, ["body", "recipients", "consent_confirmed"])),
        "responses": {**ok(202, ref("BundleEnqueued")), **errors(400, 401, 403, 409, 422)}}},
    "/api/whatsapp/bundles": {"get": {"summary": "Past bundles with their counts, newest first; a queued one says by when it starts (within 15 s)",
        "security": staff, "parameters": [q("cursor", S, "next_cursor of the previous page"), q("limit", {"type": "integer"})],
        "responses": {**ok(200, obj({"items": arr(ref("BundleSummary")), "next_cursor": nullable(S)})), **errors(400, 401, 403)}}},
    "/api/whatsapp/bundle/{id}": {"get": {"summary": "Bundle progress per recipient", "security": staff, "parameters": idp,
        "responses": {**ok(200, ref("BundleProgress")), **errors(401, 403, 404)}}},
    "/api/whatsapp/audit-log": {"get": {"summary": "Staff actions, newest first (owner/admin_doctor)", "security": staff,
        "parameters": [q("before", I, "id cursor"), q("limit", {"type": "integer"})], "responses": {**ok(200, items(ref("AuditEntry"))), **errors(401, 403)}}},
    "/api/clinic": {
        "get": {"summary": "The clinic's profile (what the bot tells patients)", "security": staff, "responses": {**ok(200, ref("Clinic")), **errors(401, 403)}},
        "put": {"summary": "Change the profile (owner/admin_doctor); a missing field keeps its value, null clears info/address/phone", "security": staff,
                "description": "400 codes: validation_failed (names the field), invalid_timezone. Audited as clinic.update.",
                "requestBody": jbody(ref("ClinicUpdate")), "responses": {**ok(200, ref("Clinic")), **errors(400, 401, 403)}}},
    "/api/whatsapp/templates/{template_id}/content-sids": {"put": {
        "summary": "Set (HX + 32 hex) or remove (null) a template's Meta Content SIDs per language (owner/admin_doctor)", "security": staff,
        "parameters": [{"name": "template_id", "in": "path", "required": True, "schema": S}],
        "requestBody": jbody(obj({"en": nullable(S), "es": nullable(S)})),
        "responses": {**ok(200, obj({"template_id": S, "content_sids": smap()})), **errors(400, 401, 403, 404)}}},
    "/api/doctors": {"get": {"summary": "Members with a doctor role", "security": staff, "responses": {**ok(200, items(ref("Doctor"))), **errors(401, 403)}}},
    "/api/doctors/{id}/availability": {
        "get": {"summary": "Weekly availability and time off (local times in the clinic's timezone)", "security": staff, "parameters": idp,
                "responses": {**ok(200, ref("AvailabilityView")), **errors(401, 403, 404)}},
        "put": {"summary": "Replace the availability (owner/admin_doctor, or the doctor themselves); ranges within a day, no overlaps", "security": staff,
                "parameters": idp, "requestBody": jbody(ref("Availability")), "responses": {**ok(200, ref("AvailabilityView")), **errors(400, 401, 403, 404)}}},
    "/api/doctors/{id}/free-slots": {"get": {"summary": "The doctor's free slots, as the bot offers them", "security": staff,
        "parameters": idp + [q("from", DT, "default now"), q("days", {"type": "integer", "minimum": 1, "maximum": 31}, "local days, default 7")],
        "responses": {**ok(200, ref("FreeSlots")), **errors(400, 401, 403, 404)}}},
    "/api/patients": {
        "get": {"summary": "Patients, newest first; search by name or phone", "security": staff,
                "parameters": [q("search", S, "name (case-insensitive) or phone digits"), q("cursor", S, "next_cursor of the previous page"), q("limit", {"type": "integer"})],
                "responses": {**ok(200, ref("PatientPage")), **errors(400, 401, 403)}},
        "post": {"summary": "Add a patient (E.164 phone)", "security": staff, "description": "409 patient_exists when the phone is already a patient. Audited.",
                 "requestBody": jbody(obj({"phone": S, "name": nullable(S), "preferred_language": nullable({"type": "string", "enum": ["en", "es"]}),
                                           "consent_whatsapp": B}, ["phone"])),
                 "responses": {**ok(201, ref("PatientRecord")), **errors(400, 401, 403, 409)}}},
    "/api/patients/{id}": {
        "get": {"summary": "A patient with upcoming appointments and conversation ids", "security": staff, "parameters": idp,
                "responses": {**ok(200, ref("PatientDetail")), **errors(401, 403, 404)}},
        "patch": {"summary": "Change name, language or consent (consent changes timestamped and audited)", "security": staff, "parameters": idp,
                  "description": "Turning consent back on for a patient who opted out by STOP needs consent_confirmed: true (else 409 consent_confirmation_required).",
                  "requestBody": jbody(obj({"name": nullable(S), "preferred_language": nullable({"type": "string", "enum": ["en", "es"]}),
                                            "consent_whatsapp": B, "consent_confirmed": B})),
                  "responses": {**ok(200, ref("PatientRecord")), **errors(400, 401, 403, 404, 409)}}},
    "/api/appointments": {
        "get": {"summary": "Appointments, earliest first (from now on without from/to)", "security": staff,
                "parameters": [q("from", DT), q("to", DT), q("status", {"type": "string", "enum": ["pending_review", "confirmed", "cancelled"]}),
                               q("doctor_id", ID), q("patient_id", ID)],
                "responses": {**ok(200, items(ref("Appointment"))), **errors(400, 401, 403)}},
        "post": {"summary": "Book (confirmed at once); notify sends appt_confirmed to the patient", "security": staff,
                 "description": "404 patient_not_found / doctor_not_found; 409 slot_taken (the time overlaps another live appointment of the doctor). "
                                "ends_at defaults to the doctor's slot length that weekday (else 30 minutes).",
                 "requestBody": jbody(obj({"patient_id": ID, "doctor_id": ID, "starts_at": DT, "ends_at": DT, "reason": nullable(S), "notify": B},
                                          ["patient_id", "doctor_id", "starts_at"])),
                 "responses": {**ok(201, ref("AppointmentOutcome")), **errors(400, 401, 403, 404, 409)}}},
    "/api/appointments/{id}": {"get": {"summary": "One appointment", "security": staff, "parameters": idp,
        "responses": {**ok(200, ref("Appointment")), **errors(401, 403, 404)}}},
    "/api/appointments/{id}/cancel": {"post": {"summary": "Cancel; notify tells the patient in their language", "security": staff, "parameters": idp,
        "description": "409 appointment_cancelled when it already is.",
        "requestBody": {"required": False, "content": {"application/json": {"schema": obj({"notify": B})}}},
        "responses": {**ok(200, ref("AppointmentOutcome")), **errors(400, 401, 403, 404, 409)}}},
    "/api/appointments/{id}/reschedule": {"post": {"summary": "Move to starts_at (same length unless ends_at); notify tells the patient", "security": staff,
        "parameters": idp, "description": "409 slot_taken or appointment_cancelled.",
        "requestBody": jbody(obj({"starts_at": DT, "ends_at": DT, "notify": B}, ["starts_at"])),
        "responses": {**ok(200, ref("AppointmentOutcome")), **errors(400, 401, 403, 404, 409)}}},
    "/api/members": {
        "get": {"summary": "The workspace's members", "security": staff, "responses": {**ok(200, items(ref("Member"))), **errors(401, 403)}},
        "post": {"summary": "Invite a member (owner only): the answer carries the invitation's link token, once", "security": staff,
                 "description": "The same answer whether or not the email has an account; the invitee accepts at /api/invitations/accept with a password of their own. A password in the body is refused (400). 409 already_member.",
                 "requestBody": jbody(obj({"email": S, "name": nullable(S), "role": {"type": "string", "enum": ["owner", "admin_doctor", "doctor", "staff"]}},
                                          ["email", "role"])),
                 "responses": {**ok(201, ref("InvitationCreated")), **errors(400, 401, 403, 409)}}},
    "/api/members/{user_id}": {
        "patch": {"summary": "Change a member's role (owner only); never the last owner", "security": staff,
                  "parameters": [{"name": "user_id", "in": "path", "required": True, "schema": I}],
                  "requestBody": jbody(obj({"role": {"type": "string", "enum": ["owner", "admin_doctor", "doctor", "staff"]}}, ["role"])),
                  "responses": {**ok(200, ref("Member")), **errors(400, 401, 403, 404, 409)}},
        "delete": {"summary": "Remove a member (owner only); never the last owner (409 last_owner)", "security": staff,
                   "parameters": [{"name": "user_id", "in": "path", "required": True, "schema": I}],
                   "responses": {**ok(204, None, "removed"), **errors(401, 403, 404, 409)}}},
    "/api/invitations": {
        "get": {"summary": "The workspace's open invitations (owner only), newest first", "security": staff,
                "responses": {**ok(200, items(ref("Invitation"))), **errors(401, 403)}}},
    "/api/invitations/{id}": {
        "delete": {"summary": "Withdraw an open invitation (owner only)", "security": staff,
                   "parameters": [{"name": "id", "in": "path", "required": True, "schema": I}],
                   "responses": {**ok(204, None, "withdrawn"), **errors(401, 403, 404)}}},
    "/api/invitations/lookup": {"post": {"summary": "What an invitation's link is for (clinic, role, whether a password is to be set)", "security": [],
        "description": "404 invitation_not_found when the link was used, withdrawn or has expired.",
        "requestBody": jbody(obj({"token": S}, ["token"])),
        "responses": {**ok(200, ref("InvitationPreview")), **errors(400, 404), **throttled}}},
    "/api/invitations/accept": {"post": {"summary": "Accept an invitation: a new account sets its password, an existing one signs in with its own",
        "security": [], "description": "Creates the membership and consumes the invitation; answers a sign-in. 401 invalid_credentials for a wrong password of an existing account; 404 invitation_not_found.",
        "requestBody": jbody(obj({"token": S, "password": S, "name": nullable(S)}, ["token", "password"])),
        "responses": {**ok(200, ref("LoginResult")), **errors(400, 401, 404), **throttled}}},
    "/api/webhooks/whatsapp": {"post": {"summary": "Twilio inbound webhook (X-Twilio-Signature; answers TwiML)", "security": [],
        "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}},
        "responses": {"200": {"description": "TwiML", "content": {"text/xml": {"schema": S}}}, "403": {"description": "bad signature"}}}},
    "/api/webhooks/whatsapp/status": {"post": {"summary": "Twilio status callback (forward-only status update)", "security": [],
        "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}},
        "responses": {"200": {"description": "recorded (or unknown SID, logged)"}, "403": {"description": "bad signature"}}}},
    "/api/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1 JSON"}}}},
    "/metrics": {"get": {"summary": "Prometheus metrics (loopback clients or Bearer MEDSYNC_METRICS_TOKEN)", "security": [],
        "responses": {"200": {"description": "text/plain; version=0.0.4", "content": {"text/plain": {"schema": S}}}, "403": {"description": "forbidden"}}}},
}

# Answers every operation of a kind can give, so the document lists every status the API answers
# (schemathesis's status_code_conformance): a staff route refuses a missing or malformed X-Account-Id
# (400 missing_account) and a bad query parameter (400); a body can be too large (413, nginx or
# MEDSYNC_MAX_BODY_BYTES) or of another Content-Type (415); a staff send can meet Twilio failing (502,
# 503) or not answering (504).
for path, ops in paths.items():
    for method, op in ops.items():
        codes = []
        if op.get("security", staff) == staff:
            codes += [400, 401, 403]
        if "requestBody" in op:
            codes += [400, 413, 415]
        if path in ("/api/whatsapp/send", "/api/whatsapp/send-template"):
            codes += [504]
        for code, response in errors(*codes).items():
            op["responses"].setdefault(code, response)

# The roles each workspace operation allows: README.md's role table ("Roles"), one row per route
# ("| `PUT /api/clinic` | ✓ | ✓ | — | — |"), in the order owner, admin_doctor, doctor, staff.
ROLE_NAMES = ["owner", "admin_doctor", "doctor", "staff"]
def readme_roles():
    roles = {}
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if line.startswith("| `") and len(cells) == 5 and " /" in cells[0]:
                roles[cells[0].strip("`")] = [name for name, cell in zip(ROLE_NAMES, cells[1:]) if cell == "✓"]
    return roles

roles = readme_roles()
staff_operations = set()
for path, ops in paths.items():
    for method, op in ops.items():
        if op.get("security", staff) == staff:
            route = method.upper() + " " + path
            if route not in roles:
                sys.exit(route + ": a workspace operation missing from README.md's role table")
            op["x-roles"] = roles[route]
            staff_operations.add(route)
for route in sorted(set(roles) - staff_operations):
    sys.exit(route + ": in README.md's role table but not a workspace operation here")

doc = {
    "openapi": "3.1.0",
    "info": {"title": "MedSync WhatsApp API", "version": "1.0.0",
             "description": "Staff API of MedSync. Errors are {\"error\":{\"code\",\"message\"}} with stable codes. Every /api/whatsapp/ route needs Authorization: Bearer <token> and X-Account-Id: <workspace id> of which the user is a member."},
    "servers": [{"url": "/"}],
    "security": staff,
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                        "account": {"type": "apiKey", "in": "header", "name": "X-Account-Id"}},
                   "schemas": schemas},
    "paths": paths,
}
text = json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
path = os.path.join(ROOT, "Sources/FCGIApp/OpenAPI/openapi.json")
if "--check" in sys.argv:
    current = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    if current != text:
        sys.exit("openapi.json is stale: run python3 openapi/generate.py")
else:
    open(path, "w", encoding="utf-8").write(text)
