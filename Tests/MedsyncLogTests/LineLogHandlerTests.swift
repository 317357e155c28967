import Foundation
import MedsyncLog
import Testing
import TestSupport

@Suite struct LineLogHandlerTests {
    @Test func oneLineWithProgramLevelMessageAndSortedMetadata() {
        let captured = CapturedLog()
        var log = captured.logger()
        log[metadataKey: "request_id"] = "abc123"
        log.warning("status callback ignored", metadata: ["message_sid": "SM1", "workspace_id": "7"])
        #expect(captured.lines == ["medsync: warning: status callback ignored message_sid=SM1 request_id=abc123 workspace_id=7"])
    }

    @Test func belowTheLevelNothingIsWritten() {
        let captured = CapturedLog()
        let log = captured.logger(level: .warning)
        log.info("routine")
        log.debug("chatter")
        log.error("bad")
        #expect(captured.lines == ["medsync: error: bad"])
    }

    @Test func controlCharactersCannotStartAnotherLine() {
        let captured = CapturedLog()
        let log = captured.logger()
        log.info("GET /api/x\nmedsync: critical: forged\u{1b}[2J", metadata: ["to": "a b\n\"c\""])
        #expect(captured.lines.count == 1)
        let line = captured.lines.first ?? ""
        #expect(!line.contains("\n") && !line.contains("\u{1b}"))
        #expect(line == #"medsync: info: GET /api/x?medsync: critical: forged?[2J to="a b?\"c\"""#)
    }

    @Test func underJournaldEachLineCarriesItsSyslogPriority() {
        let captured = CapturedLog()
        let log = captured.logger(level: .trace, journal: true)
        log.error("e")
        log.warning("w")
        log.info("i")
        log.debug("d")
        #expect(captured.lines == ["<3>medsync: error: e", "<4>medsync: warning: w", "<6>medsync: info: i", "<7>medsync: debug: d"])
    }

    @Test func theLevelComesFromMEDSYNC_LOG_LEVEL() {
        #expect(MedsyncLogging.level(nil) == .info)
        #expect(MedsyncLogging.level("") == .info)
        #expect(MedsyncLogging.level("debug") == .debug)
        #expect(MedsyncLogging.level(" WARNING ") == .warning)
        #expect(MedsyncLogging.level("loud") == nil)
    }

    @Test func anErrorAttachedToTheEventIsLoggedByItsDescription() {
        struct Failure: Error, CustomStringConvertible, CustomDebugStringConvertible {
            var description: String { "generic failure" }
            var debugDescription: String { "secret detail" }
        }
        let captured = CapturedLog()
        captured.logger().handler.log(event: LogEvent(level: .error, message: "failed", error: Failure(), metadata: nil,
                                              source: "t", file: #fileID, function: #function, line: #line))
        #expect(captured.lines == [#"medsync: error: failed error="generic failure""#])
    }
}
