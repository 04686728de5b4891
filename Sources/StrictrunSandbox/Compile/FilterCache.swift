#if canImport(Glibc)
import Glibc
#endif
import Crypto
import StrictrunPolicy
import StrictrunSystem

/// Compiled filters kept between runs (issue 17): a run whose rule list, strictrun and libseccomp
/// are those of an earlier run takes the BPF program from a file instead of libseccomp.
///
/// - Key: `FilterCacheKey` (the rule list's filter content, built for the placeholder pid, and the
///   compiler's identity). The profile is still read from its YAML at every run: a decoded copy
///   of a `Profile` was not cheaper (Benchmarks/NOTES.md, issue 17).
/// - The pid: a program is compiled for the run's pid and once more for `placeholder`; the entry
///   keeps the placeholder's program and the instructions where the two differ (only their `k`, the
///   pid in one and the placeholder in the other, or nothing is stored), and a later run patches its
///   own pid in (`FilterCacheEntry`).
/// - Trust: the directory can be written by every process of the user, traced programs included,
///   so an entry is sealed with HMAC-SHA256 under a 32-byte secret of the user keyring, which the
///   filter puts out of every program's reach (`escape/keyring`). No secret, no cache: never an
///   unauthenticated one. An entry that does not open is recompiled and replaced.
/// - A cache that fails (unwritable directory, full disk) never fails a run: it compiles as before.
public final class FilterCache {
    /// The description of the secret in the user keyring.
    public static let secretName = "strictrun:filter-cache"
    /// The pid a cached program is compiled with: above any pid_max (2^22), so never a real pid,
    /// and ordered like one against the filter's other constants (below 2^31).
    public static let placeholder: Int32 = 0x7fff_fff0

    public let directory: PrivateDirectory
    let identity: CompilerIdentity
    let secret: SymmetricKey

    /// The cache in `directory` (made 0700 when missing) with `secret`'s bytes (by default the
    /// user keyring's, made on first use). Throws when there can be no cache: the directory cannot
    /// be made or opened, or the secret cannot be had (keyrings unavailable: EPERM, ENOSYS, EDQUOT).
    public init(directory: String, identity: CompilerIdentity,
                secret: () throws(SystemError) -> [UInt8] = { () throws(SystemError) in
                    try Keyring.userSecret(named: FilterCache.secretName, length: 32)
                }) throws(SystemError) {
        self.secret = SymmetricKey(data: try secret())
        self.directory = try PrivateDirectory(path: directory, create: true)
        self.identity = identity
    }

    /// SHA-256 of a program's `struct sock_filter` bytes, as hex (what `--filter-cache-stats` prints).
    public static func digest(_ program: [BPFInstruction]) -> String {
        hex(Array(SHA256.hash(data: BPFInstruction.encode(program))))
    }

    /// Lower-case hex, by table (`String(_:radix:)` cost ~55 µs at its first use in a run).
    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes { out += [digits[Int(byte >> 4)], digits[Int(byte & 0xf)]] }
        return String(decoding: out, as: UTF8.self)
    }

    /// The file of `key` in the directory.
    static func fileName(_ key: [UInt8]) -> String {
        hex(key) + ".bpf"
    }

    /// The key of `list` (for a run: built for `placeholder`).
    func key(_ list: RuleList) -> [UInt8] {
        FilterCacheKey.digest(list, identity: identity)
    }

    /// The cached program for `key` (in the file `name`), patched for `supervisor`; or why there is none.
    func lookup(_ key: [UInt8], name: String, supervisor: Int32?) -> Result<[BPFInstruction], LookupMiss> {
        let bytes: [UInt8]
        do {
            bytes = try directory.read(name, limit: 1 << 16)
        } catch {
            return .failure(LookupMiss(reason: error.errno == ENOENT ? "no entry" : "\(error)", entryExisted: error.errno != ENOENT))
        }
        do {
            let entry = try FilterCacheEntry.open(bytes, key: key, secret: secret)
            guard let program = entry.program(supervisor: supervisor) else {
                return .failure(LookupMiss(reason: "entry without the supervisor's positions", entryExisted: true))
            }
            return .success(program)
        } catch {
            return .failure(LookupMiss(reason: error.description, entryExisted: true))
        }
    }

    /// Writes `entry`; nil when it was written, else why not.
    func store(_ entry: FilterCacheEntry, name: String) -> String? {
        do {
            try directory.replace(name, with: entry.sealed(with: secret))
            return nil
        } catch {
            return "\(error)"
        }
    }

    struct LookupMiss: Error {
        var reason: String
        var entryExisted: Bool
    }
}

/// What the filter cache did for one compilation (`--filter-cache-stats`).
public struct FilterCacheReport: Sendable, CustomStringConvertible {
    /// The program came from the cache (libseccomp made none).
    public var hit: Bool
    /// The entry's path.
    public var file: String
    /// Why it missed, whether the new entry was stored.
    public var notes: [String]

    public var description: String {
        ([hit ? "hit" : "miss"] + notes).joined(separator: "; ") + " (\(file))"
    }
}

extension FilterCompiler {
    /// Every stage, through `cache`: a program cached for the same rule list and compiler is
    /// taken from it, with this run's pid patched in, and libseccomp is not called (unless
    /// `pseudoCode` is asked: then only that comes from libseccomp). Otherwise the program is
    /// compiled (for a run, once more for the placeholder pid) and stored.
    public func compile(_ profile: Profile, pseudoCode: Bool = true,
                        cache: FilterCache) throws(ProfileError) -> (policy: CompiledPolicy, report: FilterCacheReport) {
        // The list keyed: for a run, built for the placeholder pid (the same for every run).
        let keyed = supervisor == nil ? ruleList(profile) : FilterCompiler(supervisor: FilterCache.placeholder).ruleList(profile)
        let real = { supervisor == nil ? keyed : ruleList(profile) }
        let backend = SeccompBackend()
        let key = cache.key(keyed)
        let name = FilterCache.fileName(key)
        let file = cache.directory.path + "/" + name
        switch cache.lookup(key, name: name, supervisor: supervisor) {
        case .success(let program):
            // The program is the only thing the pid changes: the rule table is the keyed list's.
            var policy = pseudoCode ? try backend.compile(real(), pseudoCode: true) : backend.policy(keyed, program: program)
            policy.program = program
            return (policy, FilterCacheReport(hit: true, file: file, notes: []))
        case .failure(let miss):
            let policy = try backend.compile(real(), pseudoCode: pseudoCode)
            var notes = [miss.reason]
            let placeholderProgram = supervisor == nil ? nil : try? backend.compile(keyed, pseudoCode: false).program
            if let entry = FilterCacheEntry.make(key: key, supervisor: supervisor, program: policy.program,
                                                 placeholder: FilterCache.placeholder,
                                                 placeholderProgram: placeholderProgram) {
                notes.append(cache.store(entry, name: name).map { "not stored: \($0)" } ?? (miss.entryExisted ? "replaced" : "stored"))
            } else {
                notes.append("not stored: the pid's place in the program was not found")
            }
            return (policy, FilterCacheReport(hit: false, file: file, notes: notes))
        }
    }
}
