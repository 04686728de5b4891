import Crypto
import StrictrunSystem

/// Who turns a rule list into BPF: strictrun (its version and the build-id of the running
/// executable: any rebuild is another compiler) and libseccomp (`SeccompBackend.libraryIdentity`).
/// Part of every filter cache key, passed in by the executable.
public struct CompilerIdentity: Sendable, Hashable {
    /// strictrun's version string.
    public var version: String
    /// The GNU build-id of strictrun's executable.
    public var buildID: [UInt8]
    /// libseccomp's version and build-id.
    public var backend: [UInt8]

    public init(version: String, buildID: [UInt8], backend: [UInt8] = SeccompBackend.libraryIdentity()) {
        self.version = version
        self.buildID = buildID
        self.backend = backend
    }

    /// The running strictrun; nil when its executable has no build-id (then nothing tells two
    /// builds of one version apart, and there is no cache).
    public static func running(version: String) -> CompilerIdentity? {
        BuildID.mainProgram().map { CompilerIdentity(version: version, buildID: $0) }
    }
}

/// The key of a cached filter: SHA-256 over a canonical encoding (every field tagged by its
/// length) of the cache format, the compiler's identity, and what of the rule list reaches the
/// BPF — the default and bad-arch actions and every filter rule (syscall, action, argument
/// conditions) in order. A run's rule list is keyed as built for `FilterCache.placeholder`, not for
/// strictrun's own pid, so one entry serves every run (`FilterCacheEntry` patches the pid in).
enum FilterCacheKey {
    /// Raised when the entry format or what the key covers changes.
    static let format: UInt32 = 1

    static func digest(_ list: RuleList, identity: CompilerIdentity) -> [UInt8] {
        Array(SHA256.hash(data: encoding(list, identity: identity)))
    }

    /// The bytes hashed.
    static func encoding(_ list: RuleList, identity: CompilerIdentity) -> [UInt8] {
        var out = CanonicalBytes()
        out.append(Array("strictrun-filter-key".utf8))
        out.append(format)
        out.append(Array(identity.version.utf8))
        out.append(identity.buildID)
        out.append(identity.backend)
        out.append(list.defaultAction.rawValue)
        if let badArch = list.badArchAction {
            out.append(UInt8(1))
            out.append(badArch.rawValue)
        } else {
            out.append(UInt8(0))
        }
        out.append(UInt32(list.filterRules.count))
        for rule in list.filterRules {
            out.append(Array(rule.syscall.utf8))
            out.append(rule.action.rawValue)
            out.append(UInt32(rule.conditions.count))
            for condition in rule.conditions {
                out.append(condition.index)
                switch condition.comparison {
                case .maskedEquals(let mask, let expected):
                    out.append(UInt8(0))
                    out.append(mask)
                    out.append(expected)
                case .notEquals(let other):
                    out.append(UInt8(1))
                    out.append(other)
                }
            }
        }
        return out.bytes
    }
}

/// Little-endian integers and length-prefixed byte strings, for hashing and for cache files.
struct CanonicalBytes {
    var bytes: [UInt8] = []

    mutating func append(_ value: UInt8) { bytes.append(value) }
    mutating func append(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func append(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    /// The count (32 bits), then the bytes.
    mutating func append(_ data: [UInt8]) {
        append(UInt32(data.count))
        bytes.append(contentsOf: data)
    }
}
