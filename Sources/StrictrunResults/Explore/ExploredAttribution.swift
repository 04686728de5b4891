/// A new failure's attribution from `conformance explore`, as `results.json` carries it.
public struct ExploredAttribution: Codable, Sendable, Hashable {
    public var verdict: VerdictKind
    /// The site whose answer gives the test back (or the first site tried).
    public var site: String?
    /// `category/rule`.
    public var rule: String?
    public var answer: String?
    /// The verdict in words.
    public var text: String

    public init(_ verdict: TestVerdict) {
        self.verdict = verdict.kind
        site = verdict.site
        rule = verdict.rule
        answer = verdict.answer
        text = verdict.text
    }
}

extension ConformanceResults {
    /// These results with explore's verdicts as the attribution where one names a site that
    /// gives the test back (or a site after which nothing helps): `primary` becomes that rule's
    /// category, the first blocked call's category stays in `first_blocked`; totals recomputed.
    public func withExplore(_ explore: ExploreResults) -> ConformanceResults {
        var out = self
        let verdicts = Dictionary(explore.verdicts.map { ($0.test, $0) }, uniquingKeysWith: { first, _ in first })
        for index in out.tests.indices {
            guard let verdict = verdicts[out.tests[index].id], var attribution = out.tests[index].attribution else { continue }
            if attribution.firstBlocked == nil { attribution.firstBlocked = attribution.first?.category ?? attribution.primary }
            attribution.explored = ExploredAttribution(verdict)
            if verdict.kind.regains, let category = verdict.category { attribution.primary = category }
            out.tests[index].attribution = attribution
        }
        out.totals = Classifier.totals(out.tests)
        return out
    }
}
