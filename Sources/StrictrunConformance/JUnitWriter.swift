import Foundation
import StrictrunResults

/// `junit.xml`: one `<testcase>` per test, in the JUnit format CI systems read (the attributes
/// and elements of the common `junit-10.xsd`). A new failure is a `<failure>` whose message names
/// the first blocked call and its top frames; a test that fails natively too is `<skipped>`.
public enum JUnitWriter {
    public static func xml(_ results: ConformanceResults, outputDirectory: String? = nil) -> String {
        let cases = results.tests.map { testcase($0, results: results, outputDirectory: outputDirectory) }
        let failures = results.tests.filter { $0.status == .newFailure && !isError($0) }.count
        let errors = results.tests.filter { $0.status == .newFailure && isError($0) }.count
        let skipped = results.tests.filter { [.baselineFail, .skipped, .incomplete].contains($0.status) }.count
        let time = results.tests.reduce(0.0) { $0 + seconds($1) }
        let title = "\(results.suite.name) under \(results.profile)"
        var lines = [
            #"<?xml version="1.0" encoding="UTF-8"?>"#,
            "<testsuites name=\"\(escape("strictrun conformance: \(title)"))\" tests=\"\(results.tests.count)\" "
                + "failures=\"\(failures)\" errors=\"\(errors)\" time=\"\(format(time))\">",
            "  <testsuite name=\"\(escape(title))\" tests=\"\(results.tests.count)\" failures=\"\(failures)\" "
                + "errors=\"\(errors)\" skipped=\"\(skipped)\" time=\"\(format(time))\" "
                + "timestamp=\"\(escape(String(results.started.prefix(19))))\" hostname=\"\(escape(ProcessInfo.processInfo.hostName))\">",
            "    <properties>",
        ]
        var properties = [("profile", results.profile), ("profile_reference", results.profileReference),
                          ("strictrun", results.strictrun), ("suite_file", results.suite.file),
                          ("jobs", String(results.jobs)), ("complete", String(results.complete))]
        if let shard = results.shard {
            properties.append(("shard", shard.description))
            if let source = shard.source { properties.append(("shard_source", source)) }
        }
        if let version = results.runtimeVersion { properties.append(("runtime_version", version)) }
        for (name, value) in results.environment.sorted(by: { $0.key < $1.key }) { properties.append(("env.\(name)", value)) }
        for (name, value) in properties {
            lines.append("      <property name=\"\(escape(name))\" value=\"\(escape(value))\"/>")
        }
        lines.append("    </properties>")
        lines += cases
        lines.append("  </testsuite>")
        lines.append("</testsuites>")
        return lines.joined(separator: "\n") + "\n"
    }

    private static func isError(_ test: TestResult) -> Bool { test.profile?.attempts.first?.outcome == .error }

    private static func seconds(_ test: TestResult) -> Double {
        test.profile?.attempts.first?.seconds ?? test.native?.attempts.first?.seconds ?? 0
    }

    private static func testcase(_ test: TestResult, results: ConformanceResults, outputDirectory: String?) -> String {
        let directory = test.id.contains("/") ? "." + test.id.split(separator: "/").dropLast().joined(separator: ".") : ""
        let open = "    <testcase name=\"\(escape(test.id))\" classname=\"\(escape(results.suite.name + directory))\" "
            + "time=\"\(format(seconds(test)))\""
        var body: [String] = []
        switch test.status {
        case .pass:
            break
        case .flaky:
            let modes = [test.native?.flaky == true ? "natively" : nil, test.profile?.flaky == true ? "under \(results.profile)" : nil]
                .compactMap { $0 }.joined(separator: " and ")
            body.append("      <system-out>\(escape("flaky: failed, then passed on its retry, \(modes)"))</system-out>")
        case .baselineFail:
            let outcome = test.native.map { describe($0.attempts.first) } ?? "?"
            body.append("      <skipped message=\"\(escape("fails natively too (\(outcome)): excluded from the constraint analysis"))\"/>")
        case .incomplete:
            body.append("      <skipped message=\"not finished (the run was interrupted)\"/>")
        case .skipped:
            body.append("      <skipped message=\"\(escape("skipped itself natively (\(describe(test.native?.attempts.first)))"))\"/>")
        case .newFailure:
            let attempt = test.profile?.attempts.first
            let attribution = test.attribution
            let element = isError(test) ? "error" : "failure"
            var message = "\(describe(attempt)) under \(results.profile)"
            var details: [String] = []
            if let first = attribution?.first {
                let top = first.frames.prefix(3).map(\.shortName).joined(separator: " ← ")
                message += "; first blocked call: \(first.oneLine)" + (top.isEmpty ? "" : " at \(top)")
                details.append("first blocked call (pid \(first.pid.map(String.init) ?? "?"), \(first.exe ?? "?")): \(first.oneLine)")
                if let site = first.site { details.append("site: \(site)") }
                for frame in first.frames {
                    let place = frame.file.map { " \($0)\(frame.line.map { ":\($0)" } ?? "")" } ?? ""
                    details.append("  \(frame.brief)\(place)")
                }
            } else {
                message += "; unattributed: no blocked call in its trace"
            }
            for hit in attribution?.categories ?? [] {
                details.append("category \(hit.category): \(hit.events) blocked call\(hit.events == 1 ? "" : "s") "
                               + "(rules \(hit.rules.joined(separator: ", ")); sites \(hit.sites.joined(separator: ", ")))")
            }
            if let trace = attempt?.trace { details.append("trace: \(trace)") }
            if let log = attempt?.log { details.append("log: \(log)") }
            if let native = test.native?.attempts.first { details.append("natively: \(describe(native))") }
            body.append("      <\(element) message=\"\(escape(message))\" type=\"\(escape(attribution?.primary ?? Attribution.unattributed))\">"
                        + escape(details.joined(separator: "\n")) + "</\(element)>")
            if let outputDirectory, let log = attempt?.log {
                let tail = logTail(log.hasPrefix("/") ? log : outputDirectory + "/" + log)
                if !tail.isEmpty { body.append("      <system-err>\(escape(tail))</system-err>") }
            }
        }
        if body.isEmpty { return open + "/>" }
        return ([open + ">"] + body + ["    </testcase>"]).joined(separator: "\n")
    }

    /// `exit 1`, `SIGSEGV`, `timeout`, `pass`.
    static func describe(_ record: RunRecord?) -> String {
        guard let record else { return "not run" }
        switch record.outcome {
        case .pass: return "passed"
        case .skip: return "skipped (exit \(record.exitCode.map(String.init) ?? "?"))"
        case .fail: return "failed (exit \(record.exitCode.map(String.init) ?? "?"))"
        case .crash: return "crashed (\(record.signal ?? "signal"))"
        case .timeout: return "timed out"
        case .error: return "could not run (\(record.message ?? "error"))"
        }
    }

    /// The last 40 lines (at most 8 KB) of a log.
    static func logTail(_ path: String) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > 8192 ? size - 8192 : 0)
        let data = (try? handle.readToEnd()) ?? Data()
        let text = String(decoding: data, as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(40).joined(separator: "\n")
    }

    static func format(_ seconds: Double) -> String { String(format: "%.3f", seconds) }

    /// XML text or attribute value: the five entities escaped, characters XML 1.0 forbids dropped.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                let v = scalar.value
                if v < 0x20 || (0xFFFE...0xFFFF).contains(v) { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
