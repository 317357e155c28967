import Domain
import Foundation
import FuzzSupport

// libFuzzer target: `PendingOffer.parse`, the conversation's `pending_intent` as the webhook reads it
// (a bounded hand reader for the shape the app stores, JSONDecoder for anything else). The input is
// the text (invalid UTF-8 repaired, as a PostgreSQL text column cannot hold it). Checks: the answer
// is JSONDecoder's own (an offer of kind "slots", or nil), so the hand reader never disagrees with it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPendingOffer(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    let parsed = PendingOffer.parse(text)
    let reference = (try? JSONDecoder().decode(PendingOffer.self, from: Data(text.utf8))).flatMap { $0.kind == "slots" ? $0 : nil }
    precondition(parsed == reference, "PendingOffer.parse disagrees with JSONDecoder")
    return 0
}

@_cdecl("FuzzPendingOffer_main")
public func fuzzPendingOfferMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { fuzzPendingOffer($0, $1) }
}
