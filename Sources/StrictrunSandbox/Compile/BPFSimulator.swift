import StrictrunSystem
/// Runs a seccomp BPF program on one `seccomp_data`, as the kernel would (libseccomp's
/// simulator style): architecture, syscall number and arguments in, action out. Used by
/// the fast tier of tests to check a compiled filter without a process.
public struct BPFSimulator {
    public var program: [BPFInstruction]

    public init(_ program: [BPFInstruction]) { self.program = program }

    /// The filter's verdict, split as the kernel reads it.
    public struct Verdict: Sendable, Hashable, CustomStringConvertible {
        /// SECCOMP_RET_ACTION_FULL (e.g. 0x7fff0000 ALLOW, 0x7ff00000 TRACE).
        public var action: UInt32
        /// SECCOMP_RET_DATA: the errno for ERRNO, the rule id for TRACE.
        public var data: UInt16
        public var description: String { BPFDisassembler.action(action | UInt32(data)) }
        public static let allow = Verdict(action: 0x7fff_0000, data: 0)
        public static func trace(_ id: UInt16) -> Verdict { Verdict(action: 0x7ff0_0000, data: id) }
        public static func errno(_ code: Int32) -> Verdict { Verdict(action: 0x0005_0000, data: UInt16(code)) }
    }

    /// Why a program could not be run to a verdict.
    public enum SimulationError: Error { case fellOffTheEnd, badInstruction(Int), tooLong }

    public func run(arch: UInt32 = SyscallNames.archX86_64, nr: Int32, args: [UInt64] = [],
                    instructionPointer: UInt64 = 0) throws -> Verdict {
        var data = [UInt32](repeating: 0, count: 16)
        data[0] = UInt32(bitPattern: nr)
        data[1] = arch
        data[2] = UInt32(truncatingIfNeeded: instructionPointer)
        data[3] = UInt32(truncatingIfNeeded: instructionPointer >> 32)
        for (i, arg) in args.prefix(6).enumerated() {
            data[4 + 2 * i] = UInt32(truncatingIfNeeded: arg)
            data[5 + 2 * i] = UInt32(truncatingIfNeeded: arg >> 32)
        }
        var a: UInt32 = 0
        var x: UInt32 = 0
        var memory = [UInt32](repeating: 0, count: 16)
        var pc = 0
        var steps = 0
        while pc < program.count {
            steps += 1
            if steps > 4096 { throw SimulationError.tooLong }
            let i = program[pc]
            pc += 1
            switch i.code {
            case 0x20: a = i.k % 4 == 0 && i.k < 64 ? data[Int(i.k / 4)] : 0  // ld [k]
            case 0x00: a = i.k  // ld #k
            case 0x01: x = i.k  // ldx #k
            case 0x60: a = memory[Int(i.k & 15)]  // ld M[k]
            case 0x61: x = memory[Int(i.k & 15)]  // ldx M[k]
            case 0x02: memory[Int(i.k & 15)] = a  // st
            case 0x03: memory[Int(i.k & 15)] = x  // stx
            case 0x04: a = a &+ i.k
            case 0x14: a = a &- i.k
            case 0x54: a &= i.k
            case 0x44: a |= i.k
            case 0xa4: a ^= i.k
            case 0x64: a = i.k < 32 ? a << i.k : 0
            case 0x74: a = i.k < 32 ? a >> i.k : 0
            case 0x84: a = 0 &- a
            case 0x07: x = a  // tax
            case 0x87: a = x  // txa
            case 0x05: pc += Int(i.k)  // ja
            case 0x15: pc += a == i.k ? Int(i.jt) : Int(i.jf)
            case 0x25: pc += a > i.k ? Int(i.jt) : Int(i.jf)
            case 0x35: pc += a >= i.k ? Int(i.jt) : Int(i.jf)
            case 0x45: pc += a & i.k != 0 ? Int(i.jt) : Int(i.jf)
            case 0x1d: pc += a == x ? Int(i.jt) : Int(i.jf)
            case 0x2d: pc += a > x ? Int(i.jt) : Int(i.jf)
            case 0x3d: pc += a >= x ? Int(i.jt) : Int(i.jf)
            case 0x4d: pc += a & x != 0 ? Int(i.jt) : Int(i.jf)
            case 0x06: return Verdict(action: i.k & 0xffff_0000, data: UInt16(i.k & 0xffff))
            case 0x16: return Verdict(action: a & 0xffff_0000, data: UInt16(a & 0xffff))
            default: throw SimulationError.badInstruction(pc - 1)
            }
        }
        throw SimulationError.fellOffTheEnd
    }
}
