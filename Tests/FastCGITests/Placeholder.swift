import Testing

@Test func placeholderFastCGITests() { #expect(Bool(true)) }
