import Foundation
import StrictrunResults

/// Known failures for the CI gate (`--expect FILE`), like Node's `.status` files: one test id
/// per line, an optional kind, an optional reason after `#`.
///
/// ```
/// # strictrun conformance expectations: tests that do not pass under the profile
/// parallel/test-child-process-spawn   fail    # process/fork: uv_spawn forks
/// parallel/test-timers-race           flaky
/// ```
/// `fail` (the default) expects the test not to pass under the profile (a new failure, or a
/// test that fails natively too); `flaky` accepts any verdict.
public struct Expectations: Sendable {
    /// What a line expects.
    public enum Kind: String, Sendable {
        case fail
        case flaky
    }

    /// One line of the file.
    public struct Entry: Sendable {
        public var id: String
        public var kind: Kind
        public var reason: String?
    }

    public var entries: [String: Entry]
    /// Ids in file order (for rewriting).
    public var order: [String]

    public init(entries: [Entry] = []) {
        self.entries = [:]
        order = []
        for entry in entries where self.entries[entry.id] == nil {
            self.entries[entry.id] = entry
            order.append(entry.id)
        }
    }

    /// Read `path`; a missing file is an empty set only when `allowMissing` (for `--update-expectations`).
    public static func read(path: String, allowMissing: Bool = false) throws(ConformanceError) -> Expectations {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            if allowMissing && !FileManager.default.fileExists(atPath: path) { return Expectations() }
            throw .expectations("\(path): cannot read the expectations file")
        }
        var entries: [Entry] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(raw)
            var reason: String?
            if let hash = line.firstIndex(of: "#") {
                let comment = line[line.index(after: hash)...].trimmingCharacters(in: .whitespaces)
                reason = comment.isEmpty ? nil : comment
                line = line[..<hash]
            }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let id = words.first else { continue }
            guard words.count <= 2 else {
                throw .expectations("\(path):\(number + 1): expected 'TEST-ID [fail|flaky] [# reason]', found '\(raw)'")
            }
            var kind = Kind.fail
            if words.count == 2 {
                guard let parsed = Kind(rawValue: words[1]) else {
                    throw .expectations("\(path):\(number + 1): unknown kind '\(words[1])' (expected fail or flaky)")
                }
                kind = parsed
            }
            entries.append(Entry(id: id, kind: kind, reason: reason))
        }
        return Expectations(entries: entries)
    }

    /// A difference between a run and the file.
    public struct Mismatch: Sendable, CustomStringConvertible {
        /// Which way the run differs from the file.
        public enum Kind: String, Sendable {
            /// Not listed, and does not pass under the profile.
            case newFailure = "new failure"
            /// Listed as `fail`, and passes.
            case unexpectedPass = "unexpected pass"
        }
        public var kind: Kind
        public var id: String
        public var detail: String
        public var description: String { "\(kind.rawValue): \(id) — \(detail)" }
    }

    /// The gate: every test that does not pass and is not listed, every test listed as `fail`
    /// that passes. Flaky and unfinished tests never fail the gate.
    public func check(_ results: ConformanceResults) -> [Mismatch] {
        var mismatches: [Mismatch] = []
        for test in results.tests {
            let entry = entries[test.id]
            switch test.status {
            case .newFailure, .baselineFail:
                if entry == nil {
                    mismatches.append(Mismatch(kind: .newFailure, id: test.id, detail: Self.reason(for: test)))
                }
            case .pass:
                if entry?.kind == .fail {
                    mismatches.append(Mismatch(kind: .unexpectedPass, id: test.id,
                                               detail: "passes natively and under \(results.profile)"
                                                   + (entry?.reason.map { " (listed: \($0))" } ?? "")))
                }
            case .flaky, .skipped, .incomplete:
                break
            }
        }
        return mismatches
    }

    /// Listed ids the run had no test for (a stale line, unless the run was a shard or filtered).
    public func unknownIds(_ results: ConformanceResults) -> [String] {
        let ids = Set(results.tests.map(\.id))
        return order.filter { !ids.contains($0) }
    }

    /// The file after `results`: its tests listed as they ended (reasons a person wrote are
    /// kept), lines for tests this run did not have left as they were.
    public func updated(with results: ConformanceResults) -> Expectations {
        let ran = Set(results.tests.map(\.id))
        var entries = order.filter { !ran.contains($0) }.compactMap { self.entries[$0] }
        for test in results.tests {
            let kind: Kind
            switch test.status {
            case .newFailure, .baselineFail: kind = .fail
            case .flaky: kind = .flaky
            case .pass, .skipped: continue
            case .incomplete:
                if let existing = self.entries[test.id] { entries.append(existing) }
                continue
            }
            let reason = self.entries[test.id]?.reason ?? Self.reason(for: test)
            entries.append(Entry(id: test.id, kind: kind, reason: reason))
        }
        return Expectations(entries: entries.sorted { $0.id < $1.id })
    }

    /// The file's text.
    public func text(profile: String) -> String {
        var lines = ["# strictrun conformance expectations (profile \(profile)): tests that do not pass under it.",
                     "# TEST-ID [fail|flaky] [# reason] — written by --update-expectations; reasons you edit are kept."]
        let width = min(60, order.map(\.count).max() ?? 0)
        for id in order {
            guard let entry = entries[id] else { continue }
            var line = id.padding(toLength: max(width, id.count), withPad: " ", startingAt: 0) + "  " + entry.kind.rawValue
            if let reason = entry.reason { line += "  # " + reason }
            lines.append(line)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Why a test does not pass, in a few words.
    static func reason(for test: TestResult) -> String {
        switch test.status {
        case .baselineFail:
            return "fails natively too: \(JUnitWriter.describe(test.native?.attempts.first))"
        case .newFailure:
            guard let first = test.attribution?.first else { return "unattributed: \(JUnitWriter.describe(test.profile?.attempts.first))" }
            let at = first.frames.first { frame in
                !(frame.module ?? "").contains("libc.so") && !(frame.module ?? "").contains("ld-linux")
            }?.symbol.map { " at \($0.split(separator: "(").first.map(String.init) ?? $0)" } ?? ""
            return "\(first.category)/\(first.rule): \(first.syscall)\(first.errno.map { " → \($0)" } ?? "")\(at)"
        case .flaky: return "flaky"
        case .pass, .skipped, .incomplete: return ""
        }
    }
}
