#if canImport(Glibc)
import Glibc
#endif
import Foundation
import StrictrunPolicy
import StrictrunSystem

/// How the `fs` view and the `net` stack were put in place for one run.
public enum ConfinementMechanism: String, Sendable {
    /// User + mount (+ network) namespaces: hidden and ungranted paths do not exist (ENOENT),
    /// the image is a read-only mount (EROFS).
    case namespaces
    /// No user namespace here: Landlock rules instead, so the same paths fail with EACCES.
    case landlock
    /// The profile changes nothing about files or the network stack.
    case none
}

/// What the tracer needs to know to name the rule behind a failure the view caused.
public struct ConfinementView: Sendable {
    public var mechanism: ConfinementMechanism
    public var hidden: [String]
    /// Grants with `$CWD` resolved.
    public var grants: [FSGrant]
    public var grantedOnly: Bool
    public var readOnlyImage: Bool
    public var passthrough: [String]
    /// The network stack is the program's own (a network namespace).
    public var isolated: Bool
    /// TCP ports the Landlock rules allow, nil when any.
    public var tcpPorts: [UInt16]?
}

/// The child's confinement steps, planned in the parent (nsjail's way: prepare here, apply
/// there): the C child path only runs them (`strictrun_confine`). Also the lines the run
/// summary shows about how the view was built.
struct ConfinementPlan {
    typealias Step = ConfinementStep

    var steps: [(step: Step, optional: Bool, what: String)] = []
    /// For the summary and the `start` line: what was applied, and every fallback.
    var notes: [String] = []
    var view: ConfinementView?

    /// Probe the host for what `profile` needs, then plan (the call site in `Sandbox`).
    static func make(profile: Profile, cwd: String, fallback: ConfinementFallback = .none) -> ConfinementPlan {
        let request = ConfinementPlanner.probeRequest(profile: profile, fallback: fallback)
        let host = request == .nothing
            ? HostCapabilities(userNamespaces: .unavailable(reason: "not probed"), landlockABI: 0)
            : HostCapabilities.probe(request)
        return ConfinementPlanner.plan(profile: profile, cwd: cwd, host: host, fallback: fallback)
    }

    mutating func add(_ step: Step, _ what: String, optional: Bool = false) {
        steps.append((step, optional, what))
    }
}

/// How the fs view is built when user namespaces would work: the executable reads
/// `STRICTRUN_FS_FALLBACK` and passes the value down (for tests, and for machines where
/// namespaces misbehave).
public enum ConfinementFallback: String, Sendable, Hashable {
    /// Namespaces where they work, Landlock where they do not.
    case none
    /// Plan the Landlock fallback even where user namespaces work.
    case landlock

    /// The environment variable the executable reads (named in the run summary's notes).
    public static let environmentVariable = "STRICTRUN_FS_FALLBACK"

    /// The value `environment` asks for (`STRICTRUN_FS_FALLBACK=landlock`); `none` otherwise.
    public init(environment: [String: String]) {
        self = environment[Self.environmentVariable] == "landlock" ? .landlock : .none
    }
}
