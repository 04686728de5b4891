import Foundation

/// What a run asked of mediated TLS: the counts a port's TLS adaptation must carry, for one run,
/// one call site, or many runs added up (`TLSAdaptation`).
///
/// - `handshakes`: handshakes the broker completed for the app (`tls` lines `handshake`) — on the
///   target, each is an IPC exchange with the trusted component.
/// - `verificationFailures`: upstream certificates the profile's trust refused (the broker's
///   `tls/verification-failed` policy events, else — older traces — its `verification-failed` lines;
///   never both for one connection).
/// - `keyReads`: the app opening private-key material (`tls/key-read`, and `tls/client-key`: the key
///   of a client certificate the broker presents).
/// - `serverInApp`: server-side TLS in the app (`tls/server-in-app`, its `listen`).
/// - `connections`: connects routed to the broker (`tls-port` or `tcp-stream`, outcome `routed`);
///   `relayed`: routed streams that were not TLS, relayed unchanged; `otherFailures`: the broker's
///   `upstream-failed` and `app-failed` lines.
public struct TLSCounts: Codable, Sendable, Hashable {
    public var handshakes = 0
    public var verificationFailures = 0
    public var keyReads = 0
    public var serverInApp = 0
    public var connections = 0
    public var relayed = 0
    public var otherFailures = 0

    enum CodingKeys: String, CodingKey {
        case handshakes, connections, relayed
        case verificationFailures = "verification_failures"
        case keyReads = "key_reads"
        case serverInApp = "server_in_app"
        case otherFailures = "other_failures"
    }

    public init() {}

    /// A counter a writer did not know yet reads as 0.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func count(_ key: CodingKeys) throws -> Int { try c.decodeIfPresent(Int.self, forKey: key) ?? 0 }
        handshakes = try count(.handshakes)
        verificationFailures = try count(.verificationFailures)
        keyReads = try count(.keyReads)
        serverInApp = try count(.serverInApp)
        connections = try count(.connections)
        relayed = try count(.relayed)
        otherFailures = try count(.otherFailures)
    }

    /// Nothing counted.
    public var isEmpty: Bool { self == TLSCounts() }

    /// What the adaptation must change rather than carry: verification failures, key reads, server-side TLS.
    public var conflicts: Int { verificationFailures + keyReads + serverInApp }

    /// Every count: for ordering runs and sites.
    public var total: Int { handshakes + conflicts + connections + relayed + otherFailures }

    public static func += (lhs: inout TLSCounts, rhs: TLSCounts) {
        lhs.handshakes += rhs.handshakes
        lhs.verificationFailures += rhs.verificationFailures
        lhs.keyReads += rhs.keyReads
        lhs.serverInApp += rhs.serverInApp
        lhs.connections += rhs.connections
        lhs.relayed += rhs.relayed
        lhs.otherFailures += rhs.otherFailures
    }
}

/// One call site of a run's TLS: a routed connect (its handshakes, verification failures,
/// relayed streams), an open of key material, or a `listen` of server-side TLS.
public struct TLSSite: Codable, Sendable, Hashable {
    /// The site's key, as the report's `SiteStats.id` (see `SiteKey`).
    public var id: String
    /// The trace's `site`; nil without stacks.
    public var site: String?
    public var counts: TLSCounts
    /// The `tls` rules seen here (`tls-port`, `verification-failed`, `key-read`…), in order.
    public var rules: [String]
    /// Where its connections went (`ip:port`, at most 5).
    public var destinations: [String]
    /// Why verification failed (at most 3).
    public var reasons: [String]
    /// Key files opened (at most 3) and their `key_format`s.
    public var paths: [String]
    public var keyFormats: [String]
    /// The named frames of the first stack seen here, short names (at most 8).
    public var frames: [String]

    enum CodingKeys: String, CodingKey {
        case id, site, rules, destinations, reasons, paths, frames
        case keyFormats = "key_formats"
    }

    public init(id: String, site: String?) {
        self.id = id
        self.site = site
        counts = TLSCounts()
        rules = []
        destinations = []
        reasons = []
        paths = []
        keyFormats = []
        frames = []
    }

    static let listLimit = (destinations: 5, reasons: 3, paths: 3, frames: 8)

    /// `other`'s counts and lists added to this site's (the same id).
    public mutating func merge(_ other: TLSSite) {
        counts += other.counts
        if site == nil { site = other.site }
        Self.add(other.rules, to: &rules, limit: .max)
        Self.add(other.destinations, to: &destinations, limit: Self.listLimit.destinations)
        Self.add(other.reasons, to: &reasons, limit: Self.listLimit.reasons)
        Self.add(other.paths, to: &paths, limit: Self.listLimit.paths)
        Self.add(other.keyFormats, to: &keyFormats, limit: Self.listLimit.paths)
        if frames.isEmpty { frames = other.frames }
    }

    static func add(_ values: [String], to list: inout [String], limit: Int) {
        for value in values where list.count < limit && !list.contains(value) { list.append(value) }
    }

    // The counts sit beside the other members (one flat object).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        site = try c.decodeIfPresent(String.self, forKey: .site)
        counts = try TLSCounts(from: decoder)
        rules = try c.decodeIfPresent([String].self, forKey: .rules) ?? []
        destinations = try c.decodeIfPresent([String].self, forKey: .destinations) ?? []
        reasons = try c.decodeIfPresent([String].self, forKey: .reasons) ?? []
        paths = try c.decodeIfPresent([String].self, forKey: .paths) ?? []
        keyFormats = try c.decodeIfPresent([String].self, forKey: .keyFormats) ?? []
        frames = try c.decodeIfPresent([String].self, forKey: .frames) ?? []
    }

    public func encode(to encoder: Encoder) throws {
        try counts.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(site, forKey: .site)
        try c.encode(rules, forKey: .rules)
        try c.encode(destinations, forKey: .destinations)
        try c.encode(reasons, forKey: .reasons)
        try c.encode(paths, forKey: .paths)
        try c.encode(keyFormats, forKey: .keyFormats)
        try c.encode(frames, forKey: .frames)
    }
}

/// The TLS of one constrained run (`digest.tls` in `results.json`): its counts and its sites,
/// most conflicts first. Nil in a digest when the run did nothing TLS.
public struct TLSDigest: Codable, Sendable, Hashable {
    public var counts: TLSCounts
    /// At most `TLSDigest.siteLimit` in a `results.json` digest.
    public var sites: [TLSSite]
    /// Sites left out of `sites` (the counts include them); nil when none were.
    public var sitesOmitted: Int?

    /// Sites kept per run in `results.json`.
    public static let siteLimit = 20

    enum CodingKeys: String, CodingKey {
        case sites
        case sitesOmitted = "sites_omitted"
    }

    public init(counts: TLSCounts = TLSCounts(), sites: [TLSSite] = [], sitesOmitted: Int? = nil) {
        self.counts = counts
        self.sites = sites
        self.sitesOmitted = sitesOmitted
    }

    /// The digest with at most `limit` sites (the first ones: most conflicts first).
    public func limited(to limit: Int = siteLimit) -> TLSDigest {
        guard sites.count > limit else { return self }
        return TLSDigest(counts: counts, sites: Array(sites.prefix(limit)),
                         sitesOmitted: (sitesOmitted ?? 0) + sites.count - limit)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        counts = try TLSCounts(from: decoder)
        sites = try c.decodeIfPresent([TLSSite].self, forKey: .sites) ?? []
        sitesOmitted = try c.decodeIfPresent(Int.self, forKey: .sitesOmitted)
    }

    public func encode(to encoder: Encoder) throws {
        try counts.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(sites, forKey: .sites)
        try c.encodeIfPresent(sitesOmitted, forKey: .sitesOmitted)
    }
}

/// The key sites are grouped by across runs (the report's `SiteStats.id`): the trace's `site`,
/// or, without one, `~CATEGORY/RULE/SYSCALL@PROGRAM` — `~tls/EVENT` for what the broker wrote
/// (syscall `tls`, no program).
public enum SiteKey {
    public static func of(site: String?, category: String, rule: String, syscall: String, exe: String?) -> String {
        if let site { return site }
        if syscall == "tls" { return "~tls/\(rule)" }
        return "~\(category)/\(rule)/\(syscall)@\(exe.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "?")"
    }
}
