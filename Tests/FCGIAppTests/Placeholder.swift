import Testing

@Test func placeholderFCGIAppTests() { #expect(Bool(true)) }
