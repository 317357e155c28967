import Foundation
import Testing
import MedsyncCrypto

@Suite struct CryptoPasswordHashTests {
    @Test func hashThenVerify() {
        let stored = PasswordHash.hash("correct horse battery staple", iterations: 1000)
        #expect(PasswordHash.verify("correct horse battery staple", against: stored))
        #expect(!PasswordHash.verify("correct horse battery stapl", against: stored))
        #expect(!PasswordHash.verify("", against: stored))
        #expect(PasswordHash.iterations(of: stored) == 1000)
    }

    @Test func formatAndFreshSalt() {
        let a = PasswordHash.hash("pw", iterations: 1000)
        let b = PasswordHash.hash("pw", iterations: 1000)
        #expect(a != b)
        let parts = a.split(separator: "$").map(String.init)
        #expect(parts.count == 4)
        #expect(parts[0] == "pbkdf2_sha256")
        #expect(parts[1] == "1000")
        #expect(Base64.decode(parts[2])?.count == 16)
        #expect(Base64.decode(parts[3])?.count == 32)
        #expect(!a.contains("pw$"))
    }

    @Test func defaultIsSixHundredThousandIterations() {
        #expect(PasswordHash.defaultIterations == 600_000)
        let stored = PasswordHash.hash("pw")
        #expect(stored.hasPrefix("pbkdf2_sha256$600000$"))
        #expect(PasswordHash.verify("pw", against: stored))
        #expect(!PasswordHash.needsRehash(stored))
        #expect(PasswordHash.needsRehash(PasswordHash.hash("pw", iterations: 210_000)))
        #expect(PasswordHash.needsRehash("not a hash"))
    }

    /// Expected value from Python: hashlib.pbkdf2_hmac('sha256', 'pässwörd'.encode(), b'0123456789abcdef', 1000).
    @Test func matchesPythonsPBKDF2() {
        let stored = "pbkdf2_sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg==$Kfxd4gVEVJAUWyEM9/KuB1B0aQFq+qVyrFi44QnyZ4k="
        #expect(PasswordHash.verify("pässwörd", against: stored))
        #expect(!PasswordHash.verify("passwörd", against: stored))
    }

    @Test func emptyPasswordWorks() {
        let stored = PasswordHash.hash("", iterations: 1000)
        #expect(PasswordHash.verify("", against: stored))
        #expect(!PasswordHash.verify(" ", against: stored))
    }

    @Test(arguments: [
        "", "pbkdf2_sha256", "pbkdf2_sha1$1000$MDEyMzQ1Njc4OWFiY2RlZg==$Kfxd4gVEVJAUWyEM9/KuB1B0aQFq+qVyrFi44QnyZ4k=",
        "pbkdf2_sha256$x$MDEyMzQ1Njc4OWFiY2RlZg==$Kfxd4gVEVJAUWyEM9/KuB1B0aQFq+qVyrFi44QnyZ4k=",
        "pbkdf2_sha256$0$MDEyMzQ1Njc4OWFiY2RlZg==$Kfxd4gVEVJAUWyEM9/KuB1B0aQFq+qVyrFi44QnyZ4k=",
        "pbkdf2_sha256$999999999$MDEyMzQ1Njc4OWFiY2RlZg==$Kfxd4gVEVJAUWyEM9/KuB1B0aQFq+qVyrFi44QnyZ4k=",
        "pbkdf2_sha256$1000$%%%$Kfxd4gVEVJAUWyEM9/KuB1B0aQFq+qVyrFi44QnyZ4k=",
        "pbkdf2_sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg==$",
        "pbkdf2_sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg==$Kfxd4gVEVJAUWyEM9/KuB1B0aQFq+qVyrFi44QnyZ4k=$extra",
    ])
    func malformedStoredValuesNeverVerify(stored: String) {
        #expect(!PasswordHash.verify("pässwörd", against: stored))
    }
}
