import StrictrunTrace

extension ConformanceResults {
    /// The categories the summary sentence always names, in this order (the seed's three).
    public static var headlineCategories: [String] { Category.headlines.map(\.name) }

    /// The one-sentence summary: "N of M tests passed unmodified under P; of the F new failures:
    /// process …, wx …, tls …, unattributed …" (summary.md, the CLI and the report).
    public var headline: String {
        let t = totals
        let primary = Dictionary(uniqueKeysWithValues: t.newFailuresByPrimary.map { ($0.category, $0.tests) })
        let headlines = Self.headlineCategories
        var parts = headlines.map { "\($0) \(primary[$0] ?? 0)" }
        for count in t.newFailuresByPrimary where !headlines.contains(count.category)
            && count.category != Attribution.unattributed {
            parts.append("\(count.category) \(count.tests)")
        }
        parts.append("unattributed \(primary[Attribution.unattributed] ?? 0)")
        return "\(t.pass) of \(t.tests) tests passed unmodified under \(profile); "
            + "of the \(t.newFailure) new failure\(t.newFailure == 1 ? "" : "s"): \(parts.joined(separator: ", "))."
    }
}
