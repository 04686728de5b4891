import ArgumentParser
import Foundation
@testable import strictrun
import Testing

/// The launcher's recognizer of `run` command lines (`RunArguments`) and swift-argument-parser's
/// `Run.parse` give the same answer for every command line the recognizer accepts, and the
/// recognizer steps aside for everything else.
@Suite("run's command line without the parser")
struct RunArgumentsTests {
    /// Command lines the recognizer must accept (what follows `strictrun run`).
    static let accepted: [[String]] = [
        ["/bin/true"],
        ["--", "/bin/true"],
        ["-q", "--", "node", "-e", "0"],
        ["-p", "genode", "-t", "/tmp/t.jsonl", "--", "python3", "-c", "pass"],
        ["--profile", "audit", "--trace", "x.jsonl", "--quiet", "--audit", "prog", "a", "--b", "-c"],
        ["--profile=Profiles/microkernel.yaml", "--trace=/tmp/a b.jsonl", "--", "--weird-program-name"],
        ["--no-stacks", "--js-frames", "--stack-depth", "8", "--site-cap", "0", "--site-frames", "3", "--", "node"],
        ["--stack-depth=12", "--site-cap=4", "node", "--", "-p", "x"],
        ["--answer", "uv_spawn=ENOSYS", "--answer=rule=fork=allow", "-q", "--", "prog"],
        ["prog", "-p", "other", "--help"],
        ["--", "--", "prog"],
        ["-q", "--", "-"],
        ["--trace", "t.jsonl", "--", "prog", "--profile", "x"],
    ]

    /// Command lines it must leave to the parser (help, versions, typos, hidden options, odd values).
    static let declined: [[String]] = [
        [], ["--"], ["-q"], ["--help"], ["-h"], ["--version"], ["-q", "--help"], ["--profle", "x", "--", "p"],
        ["-qp", "audit", "--", "p"], ["-p=audit", "--", "p"], ["--quiet=yes", "--", "p"], ["-p"], ["-p", "--", "p"],
        ["--stack-depth", "-1", "--", "p"], ["--stack-depth", "many", "--", "p"], ["--stack-depth", "٣", "--", "p"],
        ["--filter-only", "--", "p"], ["--filter-cache-stats", "--", "p"], ["--inject-failure", "deny", "--", "p"], ["-p", "a", "-p", "b", "--", "p"],
        ["--trace=", "--", "p"], ["-", "p"], ["--answer", "-x", "--", "p"],
    ]

    @Test("every accepted command line parses as Run.parse parses it", arguments: accepted)
    func sameAsParser(arguments: [String]) throws {
        let recognized = try #require(RunArguments.recognize(arguments), "declined: \(arguments)")
        let parsed = try Run.parse(arguments).options
        #expect(recognized == parsed)
    }

    @Test("anything else is left to Run.parse", arguments: declined)
    func declines(arguments: [String]) {
        #expect(RunArguments.recognize(arguments) == nil)
    }

    /// The defaults are the parser's: a bare program gets every declared default.
    @Test func defaults() throws {
        let recognized = try #require(RunArguments.recognize(["prog"]))
        #expect(recognized == (try Run.parse(["prog"]).options))
        #expect(recognized.profile == "microkernel" && recognized.siteCap == 20 && recognized.command == ["prog"])
    }

    /// A real run through the recognizer: options reach the launcher (a named trace, a profile).
    @Test func realRun() throws {
        let dir = try Fixture.temporaryDirectory()
        let trace = dir.appendingPathComponent("t.jsonl").path
        let result = try Fixture.run([Fixture.strictrun, "run", "-q", "--profile=audit", "-t", trace, "--", "/bin/sh", "-c", "exit 7"])
        #expect(result.status == 7)
        let start = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n").first.map(String.init) ?? ""
        #expect(start.contains("\"audit\""))
    }
}
