import StrictrunResults

/// Where a run's shard came from, in the order they are looked at.
public enum ShardSource: String, Sendable, CaseIterable {
    /// `--shard K/N`.
    case option
    /// `STRICTRUN_SHARD=K/N` (a CI matrix).
    case strictrunShard = "STRICTRUN_SHARD"
    /// Bazel test sharding: `TEST_SHARD_INDEX` (0-based) of `TEST_TOTAL_SHARDS`.
    case bazel
    /// A Kubernetes Indexed Job: `JOB_COMPLETION_INDEX` (0-based) of `--shard-count` or
    /// `STRICTRUN_SHARD_COUNT`.
    case kubernetes
}

/// A shard setting that cannot be used, naming the option or variable to fix.
public struct ShardSelectionError: Error, Sendable, CustomStringConvertible {
    /// The option or environment variable at fault (`--shard`, `TEST_SHARD_INDEX`, …).
    public var setting: String
    /// The value found, when it is the problem.
    public var value: String?
    public var message: String

    public init(setting: String, value: String? = nil, message: String) {
        self.setting = setting
        self.value = value
        self.message = message
    }

    /// `--shard 4/3: …`, `TEST_SHARD_INDEX=7: …`, or `--shard-count: …`.
    public var description: String {
        guard let value else { return "\(setting): \(message)" }
        return "\(setting)\(setting.hasPrefix("--") ? " " : "=")\(value): \(message)"
    }
}

/// The shard a run was asked for, and the settings of lower precedence that were set but not used.
public struct ShardChoice: Sendable, Equatable {
    public var shard: Shard
    /// Variables that also name a shard but lost to `shard.source` (for a note).
    public var ignored: [String]
}

/// Picks the shard of a run from `--shard`, `--shard-count` and the environment variables of
/// the engines that shard tests (pure: the caller reads the environment and passes it in).
///
/// Precedence: `--shard`, then `STRICTRUN_SHARD`, then Bazel's `TEST_TOTAL_SHARDS` /
/// `TEST_SHARD_INDEX`, then Kubernetes' `JOB_COMPLETION_INDEX`. An empty variable counts as unset.
public enum ShardSelection {
    public static let strictrunShard = "STRICTRUN_SHARD"
    public static let shardCount = "STRICTRUN_SHARD_COUNT"
    public static let bazelTotal = "TEST_TOTAL_SHARDS"
    public static let bazelIndex = "TEST_SHARD_INDEX"
    public static let bazelStatusFile = "TEST_SHARD_STATUS_FILE"
    public static let bazelXMLOutput = "XML_OUTPUT_FILE"
    public static let kubernetesIndex = "JOB_COMPLETION_INDEX"

    /// The shard asked for, or nil for the whole suite.
    public static func resolve(option: String?, shardCount: Int?, environment: [String: String])
        throws(ShardSelectionError) -> ShardChoice? {
        func value(_ name: String) -> String? {
            guard let text = environment[name]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            return text
        }
        var candidates: [(ShardSource, [String])] = []
        if option != nil { candidates.append((.option, ["--shard"])) }
        if value(strictrunShard) != nil { candidates.append((.strictrunShard, [strictrunShard])) }
        let bazel = [bazelTotal, bazelIndex].filter { value($0) != nil }
        if !bazel.isEmpty { candidates.append((.bazel, bazel)) }
        if value(kubernetesIndex) != nil { candidates.append((.kubernetes, [kubernetesIndex])) }

        if let shardCount, shardCount < 1 {
            throw ShardSelectionError(setting: "--shard-count", message: "must be at least 1, found \(shardCount)")
        }
        guard let (source, _) = candidates.first else {
            if shardCount != nil {
                throw ShardSelectionError(setting: "--shard-count",
                                          message: "needs \(kubernetesIndex) (a Kubernetes Indexed Job) to say which shard this is")
            }
            return nil
        }
        var shard: Shard
        switch source {
        case .option:
            shard = try parse(option ?? "", setting: "--shard")
        case .strictrunShard:
            shard = try parse(value(strictrunShard) ?? "", setting: strictrunShard)
        case .bazel:
            guard let totalText = value(bazelTotal) else {
                throw ShardSelectionError(setting: bazelTotal, message: "unset while \(bazelIndex) is set: Bazel sets both")
            }
            guard let indexText = value(bazelIndex) else {
                throw ShardSelectionError(setting: bazelIndex, message: "unset while \(bazelTotal) is set: Bazel sets both")
            }
            let total = try integer(totalText, setting: bazelTotal, minimum: 1)
            let index = try integer(indexText, setting: bazelIndex, minimum: 0)
            guard index < total else {
                throw ShardSelectionError(setting: bazelIndex, value: indexText,
                                          message: "not below \(bazelTotal)=\(total) (the index is 0-based)")
            }
            shard = Shard(index: index + 1, count: total)
        case .kubernetes:
            let index = try integer(value(kubernetesIndex) ?? "", setting: kubernetesIndex, minimum: 0)
            let count: Int
            if let shardCount {
                count = shardCount
            } else if let text = value(Self.shardCount) {
                count = try integer(text, setting: Self.shardCount, minimum: 1)
            } else {
                throw ShardSelectionError(setting: kubernetesIndex, value: String(index),
                                          message: "the number of shards is not known: pass --shard-count N "
                                              + "or set \(Self.shardCount) (the Job's completions)")
            }
            guard index < count else {
                throw ShardSelectionError(setting: kubernetesIndex, value: String(index),
                                          message: "not below the shard count \(count) (the index is 0-based)")
            }
            shard = Shard(index: index + 1, count: count)
        }
        if let shardCount, source != .kubernetes, shardCount != shard.count {
            throw ShardSelectionError(setting: "--shard-count",
                                      message: "\(shardCount) disagrees with \(candidates[0].1.joined(separator: "/")) (\(shard.count) shards)")
        }
        shard.source = source.rawValue
        return ShardChoice(shard: shard, ignored: candidates.dropFirst().flatMap(\.1))
    }

    private static func parse(_ text: String, setting: String) throws(ShardSelectionError) -> Shard {
        guard let shard = Shard(text) else {
            throw ShardSelectionError(setting: setting, value: text, message: "expected K/N with 1 ≤ K ≤ N")
        }
        return shard
    }

    private static func integer(_ text: String, setting: String, minimum: Int) throws(ShardSelectionError) -> Int {
        guard let number = Int(text), number >= minimum else {
            throw ShardSelectionError(setting: setting, value: text, message: "expected a whole number of at least \(minimum)")
        }
        return number
    }
}
