@testable import StrictrunPolicy
@testable import StrictrunSandbox
import StrictrunSystem
import StrictrunTrace
import Testing

/// The checks that close side doors, on synthetic stops.
@Suite("Hardening checks on synthetic stops")
struct HardeningCheckTests {
    static let logRule = CheckTests.rule("escape", "seccomp", .log, .seccompFilter)

    /// A tracee holding `program` at 0xa000 and its `struct sock_fprog` at 0x9000.
    static func tracee(_ program: [BPFInstruction]) -> FakeTracee {
        var tracee = FakeTracee()
        tracee.memory[0x9000] = [UInt8(program.count & 0xff), UInt8(program.count >> 8), 0, 0, 0, 0, 0, 0]
            + CheckTests.little(0xa000)
        tracee.memory[0xa000] = program.flatMap(bytes)
        return tracee
    }

    static func bytes(_ i: BPFInstruction) -> [UInt8] {
        [UInt8(i.code & 0xff), UInt8(i.code >> 8), i.jt, i.jf] + withUnsafeBytes(of: i.k.littleEndian) { Array($0) }
    }

    static let loadNr = BPFInstruction(code: 0x20, jt: 0, jf: 0, k: 0)
    static func ret(_ k: UInt32) -> BPFInstruction { BPFInstruction(code: 0x06, jt: 0, jf: 0, k: k) }
    static let jumpIfGetppid = BPFInstruction(code: 0x15, jt: 0, jf: 1, k: 110)
    static func filter(returning action: UInt32) -> [BPFInstruction] {
        [loadNr, jumpIfGetppid, ret(action), ret(0x7fff_0000)]
    }
    static let seccompStop = CheckTests.stop("seccomp", [1, 0, 0x9000, 0, 0, 0])

    @Test("a filter that can return TRACE, USER_NOTIF or the accumulator is refused with EACCES", arguments: [
        filter(returning: 0x7ff0_7777), filter(returning: 0x7fc0_0000), [loadNr, BPFInstruction(code: 0x16, jt: 0, jf: 0, k: 0)],
    ])
    func refused(program: [BPFInstruction]) throws {
        for stop in [Self.seccompStop, CheckTests.stop("prctl", [22, 2, 0x9000, 0, 0, 0])] {
            let decision = SeccompFilterCheck.decide(Self.logRule, stop, view: Self.tracee(program))
            guard case .deny(let code) = decision.verdict.action else {
                Issue.record("not denied: \(decision.verdict.action)")
                continue
            }
            #expect(code == Errno.access)
            let event = try #require(decision.events.first)
            #expect(event.rule.category == "escape" && event.rule.name == "seccomp")
            #expect(event.extra.contains { $0.0 == "reason" })
        }
    }

    @Test("an ordinary filter (ALLOW/ERRNO) is installed from a pinned copy that points into itself")
    func pinned() throws {
        let program = Self.filter(returning: 0x0005_0019)
        let decision = SeccompFilterCheck.decide(Self.logRule, Self.seccompStop, view: Self.tracee(program))
        guard case .allow = decision.verdict.action else { Issue.record("not allowed"); return }
        let pin = try #require(decision.verdict.pin)
        #expect(pin.argument == 2)
        #expect(Array(pin.bytes[0..<2]) == [4, 0])
        #expect(Array(pin.bytes[8..<16]) == CheckTests.little(16))
        #expect(Array(pin.bytes[16...]) == program.flatMap(Self.bytes))
        #expect(decision.verdict.pinRelocations == [8])
        #expect(decision.events.first?.rule.action == .log)
        let quiet = SeccompFilterCheck.decide(CheckTests.rule("escape", "seccomp", .allow, .seccompFilter),
                                              Self.seccompStop, view: Self.tracee(program))
        #expect(quiet.events.isEmpty && quiet.verdict.pin != nil)
    }

    @Test("seccomp operations that install no filter get the rule's own action")
    func otherOperations() {
        let strict = SeccompFilterCheck.decide(Self.logRule, CheckTests.stop("seccomp", [0, 0, 0, 0, 0, 0]),
                                               view: FakeTracee())
        #expect(strict.verdict.pin == nil && strict.events.count == 1)
        #expect(SeccompFilterCheck.programArgument(number: SyscallNumber.prctl, args: [38, 1, 0, 0, 0, 0]) == nil)
    }

    @Test("personality: only exactly 0xffffffff is a query; any other value with READ_IMPLIES_EXEC is judged")
    func personality() {
        let rule = CheckTests.rule("escape", "read-implies-exec", .deny(errno: 1), .personality)
        for (value, judged) in [(UInt64(0xffff_ffff), false), (0x8040_0000, true), (0x0040_0000, true),
                                (0x1_ffff_ffff, false), (0xffff_fffe, true)] {
            let decision = PersonalityCheck.decide(rule, CheckTests.stop("personality", [value, 0, 0, 0, 0, 0]))
            #expect(decision.events.isEmpty != judged, "personality(0x\(String(value, radix: 16)))")
        }
    }
}
