/// What a port's TLS adaptation must carry over many runs (the tests of a conformance run, or the
/// traces of a report): the TLS digests of the runs added up, by run and by call site. The W^X
/// section's counterpart; `results.json` (`tls_adaptation`) and the report (`tls_adaptation`)
/// both hold this one type, built by `TLSAdaptationBuilder` from the same per-trace digests.
public struct TLSAdaptation: Codable, Sendable {
    /// One run (a test, or a trace) and its counts.
    public struct Run: Codable, Sendable {
        public var name: String
        public var counts: TLSCounts

        public init(name: String, counts: TLSCounts) {
            self.name = name
            self.counts = counts
        }

        enum CodingKeys: String, CodingKey { case name }

        public init(from decoder: Decoder) throws {
            name = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .name)
            counts = try TLSCounts(from: decoder)
        }

        public func encode(to encoder: Encoder) throws {
            try counts.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
        }
    }

    /// One call site over the runs: its counts and lists (`TLSSite`), and the runs it appears in.
    public struct Site: Codable, Sendable {
        public var site: TLSSite
        public var runs: Int
        /// The runs' names, most conflicts first (at most `TLSAdaptation.runListLimit`).
        public var runList: [String]

        enum CodingKeys: String, CodingKey {
            case runs
            case runList = "run_list"
        }

        public init(site: TLSSite, runs: Int, runList: [String]) {
            self.site = site
            self.runs = runs
            self.runList = runList
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            site = try TLSSite(from: decoder)
            runs = try c.decode(Int.self, forKey: .runs)
            runList = try c.decodeIfPresent([String].self, forKey: .runList) ?? []
        }

        public func encode(to encoder: Encoder) throws {
            try site.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(runs, forKey: .runs)
            try c.encode(runList, forKey: .runList)
        }
    }

    /// Runs that did anything TLS.
    public var runs: Int
    /// Runs read (with or without TLS).
    public var runsRead: Int
    public var counts: TLSCounts
    /// Runs that did anything TLS, most conflicts first (at most `runLimit`).
    public var byRun: [Run]
    /// Every site, most conflicts first, then by runs.
    public var sites: [Site]

    public static let runLimit = 25
    public static let runListLimit = 20

    enum CodingKeys: String, CodingKey {
        case runs, sites
        case runsRead = "runs_read"
        case byRun = "by_run"
    }

    public init(runs: Int, runsRead: Int, counts: TLSCounts, byRun: [Run], sites: [Site]) {
        self.runs = runs
        self.runsRead = runsRead
        self.counts = counts
        self.byRun = byRun
        self.sites = sites
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        runs = try c.decode(Int.self, forKey: .runs)
        runsRead = try c.decode(Int.self, forKey: .runsRead)
        counts = try TLSCounts(from: decoder)
        byRun = try c.decodeIfPresent([Run].self, forKey: .byRun) ?? []
        sites = try c.decodeIfPresent([Site].self, forKey: .sites) ?? []
    }

    public func encode(to encoder: Encoder) throws {
        try counts.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(runs, forKey: .runs)
        try c.encode(runsRead, forKey: .runsRead)
        try c.encode(byRun, forKey: .byRun)
        try c.encode(sites, forKey: .sites)
    }

    /// One sentence: `TLS adaptation: 12 mediated handshakes, 1 verification failure, 2 private-key
    /// reads, 0 server-side TLS in the app, in 3 of 15 tests (4 call sites)`.
    public func headline(runNoun: String = "run") -> String {
        func n(_ count: Int, _ noun: String, _ plural: String? = nil) -> String {
            "\(count) \(count == 1 ? noun : plural ?? noun + "s")"
        }
        let c = counts
        var text = "TLS adaptation: \(n(c.handshakes, "mediated handshake")), \(n(c.verificationFailures, "verification failure")), "
            + "\(n(c.keyReads, "private-key read")), \(c.serverInApp) server-side TLS in the app"
        text += ", in \(runs) of \(n(runsRead, runNoun)) (\(n(sites.count, "call site")))"
        if c.connections > 0 || c.relayed > 0 || c.otherFailures > 0 {
            text += "; \(n(c.connections, "connection")) routed, \(c.relayed) relayed as not TLS"
                + (c.otherFailures > 0 ? ", \(c.otherFailures) failed otherwise" : "")
        }
        return text
    }
}

/// Adds runs' TLS digests up into a `TLSAdaptation`, one run at a time.
public struct TLSAdaptationBuilder: Sendable {
    private var runsRead = 0
    private var runs: [TLSAdaptation.Run] = []
    private var sites: [String: (site: TLSSite, runs: [TLSAdaptation.Run])] = [:]

    public init() {}

    /// One run read: `digest` nil when it did nothing TLS.
    public mutating func add(run name: String, digest: TLSDigest?) {
        runsRead += 1
        guard let digest, !digest.counts.isEmpty else { return }
        runs.append(TLSAdaptation.Run(name: name, counts: digest.counts))
        for site in digest.sites {
            var entry = sites[site.id] ?? (TLSSite(id: site.id, site: site.site), [])
            entry.site.merge(site)
            entry.runs.append(TLSAdaptation.Run(name: name, counts: site.counts))
            sites[site.id] = entry
        }
    }

    /// The adaptation over the runs added; nil when none did anything TLS.
    public func build(runLimit: Int = TLSAdaptation.runLimit) -> TLSAdaptation? {
        guard !runs.isEmpty else { return nil }
        var counts = TLSCounts()
        for run in runs { counts += run.counts }
        let sorted = sites.values.map { entry in
            TLSAdaptation.Site(site: entry.site, runs: entry.runs.count,
                               runList: entry.runs.sorted(by: Self.mostConflictsFirst).prefix(TLSAdaptation.runListLimit)
                                   .map(\.name))
        }.sorted { a, b in
            if a.site.counts.conflicts != b.site.counts.conflicts { return a.site.counts.conflicts > b.site.counts.conflicts }
            if a.runs != b.runs { return a.runs > b.runs }
            return TLSSite.mostConflictsFirst(a.site, b.site)
        }
        return TLSAdaptation(runs: runs.count, runsRead: runsRead, counts: counts,
                             byRun: Array(runs.sorted(by: Self.mostConflictsFirst).prefix(runLimit)), sites: sorted)
    }

    static func mostConflictsFirst(_ a: TLSAdaptation.Run, _ b: TLSAdaptation.Run) -> Bool {
        if a.counts.conflicts != b.counts.conflicts { return a.counts.conflicts > b.counts.conflicts }
        if a.counts.total != b.counts.total { return a.counts.total > b.counts.total }
        return a.name < b.name
    }
}
