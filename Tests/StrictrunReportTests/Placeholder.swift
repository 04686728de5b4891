import Testing
@Test func reportPlaceholder() { #expect(Bool(true)) }
