import Foundation
import MedsyncCrypto

/// Which build of medsync-fcgi is serving: the first 16 hex digits of the SHA-256 of the executable
/// file, read when the master starts (and again when a reload re-executes it). `/api/health` shows it;
/// after a deploy, `sha256sum /opt/medsync/bin/medsync-fcgi | cut -c1-16` says whether the new binary
/// took over (README, "Deploying a new binary").
enum BinaryVersion {
    /// Computed once, in the master before it forks (main.swift touches it), so children inherit it.
    static let current: String = digest(ofFileAt: startedFrom())

    static func digest(ofFileAt path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "unknown" }
        let hash = data.withUnsafeBytes { Crypto.sha256(Array($0.bindMemory(to: UInt8.self))) }
        return hash.prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// The executable this process runs (what /proc/self/exe names when the master starts).
    static func startedFrom() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments.first ?? ""
    }
}
