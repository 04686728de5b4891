/// What happened to the call a policy line records, as written in its `action` (and, under
/// `mode: audit`, the action the profile wrote, in `audited`).
public enum EventAction: String, Sendable, Hashable, CaseIterable, Codable {
    /// Ran and was recorded.
    case log
    /// Failed with the line's `errno`.
    case deny
    /// The process was killed before the call ran.
    case kill
    /// connect() only: the connection went to the TLS broker.
    case route
    /// Skipped; the program saw 0.
    case noop
    /// The TLS broker refused the connection (verification or upstream failure).
    case refuse
    /// Ran unrecorded (never written, but a profile may name it).
    case allow

    /// Whether the call never did what the program asked: denied, killed, skipped or refused.
    /// The one definition (the policy's `Action.blocks` and every reader use it).
    public var blocks: Bool {
        switch self {
        case .deny, .kill, .noop, .refuse: true
        case .log, .route, .allow: false
        }
    }

    /// The action of a written form: `deny`, or `deny(EPERM)` as `audited` and counts write it.
    public init?(written: String) {
        let name = written.firstIndex(of: "(").map { String(written[..<$0]) } ?? written
        self.init(rawValue: name)
    }
}
