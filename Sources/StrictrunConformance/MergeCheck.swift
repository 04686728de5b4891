import StrictrunResults

/// One input of a merge as the checks see it: its path, what it set out to run, whether it finished.
public struct MergeInput: Sendable {
    public var path: String
    public var header: RunHeader
    public var complete: Bool

    public init(path: String, header: RunHeader, complete: Bool) {
        self.path = path
        self.header = header
        self.complete = complete
    }
}

/// Something that keeps a merge from being one complete result set.
public enum MergeProblem: Sendable, Equatable, CustomStringConvertible {
    /// A property that must be equal in every input is not: the values and the inputs of each.
    case mismatch(what: String, values: [MismatchValue])
    /// Shards of `count` that no input is.
    case missingShards([Int], count: Int)
    /// One shard given more than once.
    case repeatedShard(Int, count: Int, inputs: [String])
    /// Inputs that are not shards mixed with shards, or shards of different counts.
    case mixedShards(String)
    /// A test planned by more than one input.
    case duplicatedTest(String, inputs: [String])
    /// Tests of the sharded selection that no input holds.
    case missingTests([String])
    /// Tests an input ran that are not in the selection its shards were cut from.
    case unexpectedTests([String], input: String)
    /// An input whose run did not finish (interrupted, or the runner died).
    case unfinished(String)

    /// A value of a mismatched property and the inputs that have it.
    public struct MismatchValue: Sendable, Equatable {
        public var value: String
        public var inputs: [String]
    }

    public var description: String {
        switch self {
        case .mismatch(let what, let values):
            return "\(what) differs: " + values.map { "\($0.value) in \($0.inputs.joined(separator: ", "))" }
                .joined(separator: "; ")
        case .missingShards(let shards, let count):
            return "missing shard\(shards.count == 1 ? "" : "s") \(shards.map(String.init).joined(separator: ", ")) of \(count)"
        case .repeatedShard(let index, let count, let inputs):
            return "shard \(index)/\(count) given more than once: \(inputs.joined(separator: ", "))"
        case .mixedShards(let message):
            return message
        case .duplicatedTest(let id, let inputs):
            return "test '\(id)' is duplicated: in \(inputs.joined(separator: " and ")) (overlapping shards or a repeated input)"
        case .missingTests(let ids):
            return "\(ids.count) test\(ids.count == 1 ? "" : "s") of the suite in no input: " + Self.list(ids)
        case .unexpectedTests(let ids, let input):
            return "\(input) ran \(ids.count) test\(ids.count == 1 ? "" : "s") outside the sharded selection: " + Self.list(ids)
        case .unfinished(let input):
            return "\(input) did not finish (interrupted or killed): continue it with 'conformance run --resume \(input)'"
        }
    }

    private static func list(_ ids: [String]) -> String {
        ids.prefix(10).map { "'\($0)'" }.joined(separator: ", ") + (ids.count > 10 ? ", … (\(ids.count - 10) more)" : "")
    }
}

/// What a merge found: the problems, and which input owns each test (the first that planned it).
public struct MergeCheckResult: Sendable {
    public var problems: [MergeProblem]
    /// Test id → the input whose runs of it are merged.
    public var owner: [String: String]
    /// Tests of the sharded selection that no input holds.
    public var missingTests: [String]
}

/// The checks of `conformance merge` (pure): the same suite file, profile, strictrun version,
/// runtime version, recorded environment and retries in every input; every test once; for
/// shards, the whole set 1…N cut from one selection in one way.
public enum MergeCheck {
    public static func check(_ inputs: [MergeInput]) -> MergeCheckResult {
        var problems: [MergeProblem] = []
        func same(_ what: String, _ value: (RunHeader) -> String) {
            var order: [String] = []
            var byValue: [String: [String]] = [:]
            for input in inputs {
                let key = value(input.header)
                if byValue[key] == nil { order.append(key) }
                byValue[key, default: []].append(input.path)
            }
            if order.count > 1 {
                problems.append(.mismatch(what: what, values: order.map { .init(value: $0, inputs: byValue[$0]!) }))
            }
        }
        let unrecorded = "(not recorded)"
        same("suite") { $0.suite.name }
        same("suite file (sha256)") { $0.suite.sha256 ?? unrecorded }
        same("profile") { $0.profile }
        same("profile file (sha256)") { $0.profileSHA256 ?? unrecorded }
        same("strictrun version") { $0.strictrun }
        same("runtime version") { $0.runtimeVersion ?? unrecorded }
        same("recorded environment") { header in
            header.environment.isEmpty ? "(none)"
                : header.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        same("retries") { String($0.retries) }
        for input in inputs where !input.complete { problems.append(.unfinished(input.path)) }

        // Every test once.
        var owner: [String: String] = [:]
        var holders: [String: [String]] = [:]
        var firstSeen: [String] = []
        for input in inputs {
            for test in input.header.tests {
                if holders[test.id] == nil { firstSeen.append(test.id) }
                holders[test.id, default: []].append(input.path)
                if owner[test.id] == nil { owner[test.id] = input.path }
            }
        }
        for id in firstSeen where holders[id]!.count > 1 {
            problems.append(.duplicatedTest(id, inputs: holders[id]!))
        }

        // Shards: one count, every index once, one selection cut one way.
        var missingTests: [String] = []
        let shards = inputs.compactMap { input in input.header.shard.map { (input.path, $0) } }
        if !shards.isEmpty {
            if shards.count < inputs.count {
                let whole = inputs.filter { $0.header.shard == nil }.map(\.path)
                problems.append(.mixedShards("\(whole.joined(separator: ", ")) \(whole.count == 1 ? "is a whole run" : "are whole runs"), "
                                             + "the other inputs are shards"))
            }
            let counts = Set(shards.map(\.1.count))
            if counts.count > 1 {
                problems.append(.mixedShards("shards of different counts: "
                                             + shards.map { "\($0.0) is \($0.1)" }.joined(separator: ", ")))
            } else if let count = counts.first {
                let given = Dictionary(grouping: shards, by: \.1.index)
                let missing = (1...count).filter { given[$0] == nil }
                if !missing.isEmpty { problems.append(.missingShards(missing, count: count)) }
                for index in given.keys.sorted() where given[index]!.count > 1 {
                    problems.append(.repeatedShard(index, count: count, inputs: given[index]!.map(\.0)))
                }
            }
            var shardInputs = inputs.filter { $0.header.shard != nil }
            shardInputs.sort { $0.header.shard!.index < $1.header.shard!.index }
            let assignments = shardInputs.map { input -> String in
                let shard = input.header.shard!
                switch shard.assignment {
                case "durations"?: return "durations (sha256 \(shard.durationsSHA256 ?? "?"))"
                case let other?: return other
                case nil: return "round-robin"
                }
            }
            if Set(assignments).count > 1 {
                let grouped = Dictionary(grouping: zip(assignments, shardInputs.map(\.path)), by: \.0)
                problems.append(.mismatch(what: "shard assignment", values: grouped.keys.sorted().map {
                    .init(value: $0, inputs: grouped[$0]!.map(\.1))
                }))
            }
            let selections = shardInputs.compactMap { input in input.header.shard!.selection.map { (input.path, $0) } }
            if let (_, selection) = selections.first {
                if selections.contains(where: { $0.1 != selection }) {
                    let grouped = Dictionary(grouping: selections) { "\($0.1.count) tests, sha256 \(ContentHash.sha256($0.1.joined(separator: "\n")).prefix(12))" }
                    problems.append(.mismatch(what: "sharded selection", values: grouped.keys.sorted().map {
                        .init(value: $0, inputs: grouped[$0]!.map(\.0))
                    }))
                } else {
                    let expected = Set(selection)
                    missingTests = selection.filter { holders[$0] == nil }
                    if !missingTests.isEmpty { problems.append(.missingTests(missingTests)) }
                    for input in shardInputs {
                        let extra = input.header.tests.map(\.id).filter { !expected.contains($0) }
                        if !extra.isEmpty { problems.append(.unexpectedTests(extra, input: input.path)) }
                    }
                }
            }
        }
        return MergeCheckResult(problems: problems, owner: owner, missingTests: missingTests)
    }
}
