import Foundation
import Testing
@testable import StrictrunTrace

/// The typed events are the trace schema: what the writer writes is what every reader reads
/// back, member for member, and the lines are the schema-1 JSON the tools have always read.
@Suite("trace schema")
struct EventSchemaTests {
    /// Writes `events` to a fresh trace and returns its lines and what the reader makes of them.
    static func roundTrip(_ write: (TraceWriter) throws -> Void) throws -> (text: [String], lines: [TraceLine], problems: TraceReader.Problems) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("schema-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try TraceWriter(path: path)
        try write(writer)
        var lines: [TraceLine] = []
        let problems = try TraceReader.forEachEvent(path: path) { _, line in lines.append(line) }
        let text = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        return (text, lines, problems)
    }

    /// A member list with keys sorted (parsing does not keep the writer's order).
    static func canonical(_ members: [(String, JSONValue)]) -> String {
        (try? JSONValue.parse(JSONValue.object(members).serialized()))?.serialized() ?? "?"
    }

    static let policy = PolicyEvent(
        pid: 41, tid: 42, exe: "/usr/bin/node", syscall: "openat", number: 257, abi: "x86_64",
        args: [("dirfd", .string("AT_FDCWD"))] + TraceBytes.members("path", [0x2f, 0x74, 0xff, 0xfe])
            + [("flags", .string("O_WRONLY|O_CREAT"))],
        category: "fs", rule: "read-only", action: .deny, errno: "EROFS", extra: [("reason", .string("image"))],
        stack: CapturedStack(frames: [TraceFrame(pc: 0x401000, module: "/usr/bin/node", offset: 0x1000,
                                                 symbol: "uv_fs_open", file: "fs.c", line: 12)],
                             site: "20f31737de57d917", siteFrames: 4))

    @Test("a policy line is written in the schema's order and read back member for member")
    func policyRoundTrip() throws {
        let (text, lines, problems) = try Self.roundTrip { try $0.write(Self.policy) }
        #expect(problems.malformedLines.isEmpty && problems.invalidEvents.isEmpty)
        let line = try #require(text.first)
        #expect(line.hasPrefix(#"{"v":1,"seq":1,"time":""#))
        let body = try #require(line.range(of: #","type":"policy","#)).upperBound
        #expect(String(line[body...]) == #""pid":41,"tid":42,"exe":"/usr/bin/node","syscall":"openat","nr":257,"#
            + #""abi":"x86_64","args":{"dirfd":"AT_FDCWD","path":"/t\#u{FFFD}\#u{FFFD}","path_hex":"2f74fffe","#
            + #""flags":"O_WRONLY|O_CREAT"},"category":"fs","rule":"read-only","action":"deny","errno":"EROFS","#
            + #""reason":"image","stack":[{"pc":"0x401000","module":"/usr/bin/node","offset":"0x1000","#
            + #""symbol":"uv_fs_open","file":"fs.c","line":12}],"site":"20f31737de57d917","site_frames":4}"#)
        guard case .policy(let read) = try #require(lines.first) else {
            Issue.record("not a policy line: \(lines)")
            return
        }
        #expect(Self.canonical(read.members) == Self.canonical(Self.policy.members))
        #expect(read.blocks)
        #expect(TraceBytes.bytes("path", in: .object(read.args)) == [0x2f, 0x74, 0xff, 0xfe])
        #expect(read.stack.frames?.first?.symbol == "uv_fs_open")
        #expect(read["reason"]?.stringValue == "image")
    }

    @Test("every event type reads back as itself")
    func everyType() throws {
        var exit = ExitEvent(pid: 41)
        exit.exe = "/bin/true"
        exit.code = 0
        exit.exitStatus = 0
        exit.final = true
        exit.processes = 2
        exit.counts = [RuleCountEntry(category: "process", rule: "fork", action: "deny(EPERM)", count: 3)]
        var counts = WXEmulationCounts()
        counts.flips = 7
        counts.rewritten = 2
        exit.wxEmulation = counts
        exit.wxEmulationTotal = counts
        exit.codeWriters = [CodeWriter(site: "ab", sampledFaults: 5, frames: ["v8::Assembler"])]
        exit.notices = ["pid 42 ended"]
        let start = StartEvent(profile: "microkernel", profileFiles: ["/p/microkernel.yaml"], mode: "enforce",
                               argv: ["node", "-e", "0"], cwd: "/w", strictrun: "0.9", filterInstructions: 120)
        let process = ProcessEvent(pid: 42, parent: 41, via: .vfork, exe: "/bin/sh")
        let exec = ExecEvent(pid: 42, tid: 42, exe: "/bin/sh", argv: [Array("sh".utf8), [0x61, 0xff]])
        let tls = TLSEvent(pid: 41, connection: 3, kind: .verificationFailed, destination: "127.0.0.1:443",
                           sni: "example.test", details: [("reason", .string("unknown CA")), ("alert", .string("bad_certificate"))])
        let (text, lines, problems) = try Self.roundTrip { writer in
            try writer.write(start)
            try writer.write(process)
            try writer.write(exec)
            try writer.write(tls)
            try writer.write(exit)
        }
        #expect(problems.invalidEvents.isEmpty)
        #expect(lines.count == 5)
        #expect(text[2].contains(#""argv":["sh","a\#u{FFFD}"],"argv_hex":["7368","61ff"]"#))
        for line in lines {
            switch line {
            case .start(let read): #expect(read == start)
            case .process(let read): #expect(read == process)
            case .exec(let read): #expect(read == exec)
            case .tls(let read):
                #expect(Self.canonical(read.members) == Self.canonical(tls.members))
                let refusal = try #require(read.refusal)
                #expect(refusal.blocks && refusal.category == Category.tls.name && refusal.rule == "verification-failed")
            case .exit(let read): #expect(read == exit)
            default: Issue.record("unexpected \(line)")
            }
        }
    }

    @Test("a line that lacks a member its type requires is reported, not read as an event")
    func invalidEvent() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try (#"{"v":1,"seq":1,"time":"t","type":"start","profile":"p","argv":[]}"# + "\n"
            + #"{"v":1,"seq":2,"time":"t","type":"policy","pid":1,"syscall":"fork","category":"process"}"# + "\n"
            + #"{"v":1,"seq":3,"time":"t","type":"later","what":1}"# + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        var kinds: [String] = []
        let problems = try TraceReader.forEachEvent(path: path) { header, line in
            switch line {
            case .start: kinds.append("start")
            case .other(let type): kinds.append("other:\(type)@\(header.seq)")
            default: kinds.append("?")
            }
        }
        #expect(kinds == ["start", "other:later@3"])
        #expect(problems.invalidEvents == [2])
        #expect(throws: TraceEventError.self) { _ = try PolicyEvent(line: try JSONValue.parse(#"{"v":1,"type":"policy","syscall":"x","category":"c","rule":"r","action":"explode"}"#)) }
    }

    @Test("actions: which ones block, and audit's written form")
    func actions() {
        #expect(EventAction.allCases.filter(\.blocks) == [.deny, .kill, .noop, .refuse])
        #expect(EventAction(written: "deny(EPERM)") == .deny)
        #expect(EventAction(written: "frobnicate") == nil)
        let audited = PolicyEvent(pid: 1, syscall: "fork", category: "process", rule: "fork", action: .log,
                                  audited: "deny(EPERM)")
        #expect(audited.blocks && audited.writtenAction == .deny)
        #expect(!PolicyEvent(pid: 1, syscall: "fork", category: "process", rule: "fork", action: .log).blocks)
    }

    @Test("categories: the seed's three head summaries; every category has a stable colour")
    func categories() {
        #expect(Category.headlines.map(\.name) == ["process", "wx", "tls"])
        #expect(Category.named("wx").colour == Category.wx.colour)
        #expect(Category.named("custom").colour == Category.named("custom").colour)
        #expect(Set(Category.known.map(\.colour)).count == Category.known.count)
    }

    @Test("tls members typed: a routed connect, the broker's syscall-less deny (it blocks), a handshake line")
    func tlsMembers() throws {
        let connect = try PolicyEvent(line: try JSONValue.parse(#"{"v":1,"type":"policy","pid":7,"syscall":"connect","category":"tls","rule":"tcp-stream","action":"route","destination":"127.0.0.1:443","outcome":"routed","connection":3,"stack":null,"site":"abcd"}"#))
        #expect(connect.isRoutedConnect && connect.connection == 3 && connect.destination == "127.0.0.1:443")
        #expect(connect.stack.site == "abcd" && !connect.blocks)
        let refused = try PolicyEvent(line: try JSONValue.parse(#"{"v":1,"type":"policy","pid":7,"category":"tls","rule":"verification-failed","action":"deny","connection":3,"sni":"localhost","reason":"expired","stack":null,"site":"abcd"}"#))
        #expect(refused.syscall == "tls" && refused.blocks && refused.connection == 3 && !refused.isRoutedConnect)
        #expect(refused["reason"]?.stringValue == "expired")
        let handshake = try TLSEvent(line: try JSONValue.parse(#"{"v":1,"type":"tls","pid":7,"connection":3,"event":"handshake","sni":"localhost","upstream_verified":true,"milliseconds":1.5,"alpn":"h2"}"#))
        #expect(handshake.kind == .handshake && handshake.upstreamVerified == true && handshake.milliseconds == 1.5)
        #expect(handshake.alpn == "h2" && handshake.refusal == nil)
        #expect(TLSRule.routes == ["tls-port", "tcp-stream"])
    }

    @Test("bytes: hex round trip, invalid hex refused")
    func bytes() {
        let all = (0...255).map(UInt8.init)
        #expect(TraceBytes.bytes(hex: TraceBytes.hex(all)) == all)
        #expect(TraceBytes.bytes(hex: "abc") == nil && TraceBytes.bytes(hex: "zz") == nil)
        #expect(TraceBytes.members("p", Array("ok".utf8)).count == 1)
    }

    @Test("seq numbers that do not follow each other are reported (a line lost, removed or forged)")
    func seqBreaks() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("seq-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let lines = [1, 2, 4, 4].map { #"{"v":1,"seq":\#($0),"time":"t","type":"later"}"# }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let problems = try TraceReader.forEach(path: path) { _ in }
        #expect(problems.seqBreaks == 2)
        #expect(problems.firstSeqBreak == "seq 4 after seq 2")
    }
}
