import StrictrunSystem
/// Renders a classic-BPF seccomp program one instruction per line (the kernel's
/// `bpf_dbg` style): loads of `seccomp_data` fields, jumps, returns with their action.
public enum BPFDisassembler {
    public static func text(_ program: [BPFInstruction]) -> String {
        program.enumerated().map { index, insn in
            let pad = String(repeating: " ", count: max(0, 4 - String(index).count))
            return "\(pad)\(index): \(render(insn, at: index))"
        }.joined(separator: "\n")
    }

    static func field(_ offset: UInt32) -> String {
        switch offset {
        case 0: "nr"
        case 4: "arch"
        case 8: "instruction_pointer"
        case 12: "instruction_pointer+4"
        default:
            offset >= 16 && offset < 64
                ? "args[\((offset - 16) / 8)]\((offset - 16) % 8 == 4 ? ".hi" : ".lo")" : "data[\(offset)]"
        }
    }

    static func action(_ k: UInt32) -> String {
        let data = k & 0xffff
        switch k & 0xffff_0000 {
        case 0x7fff_0000: return "ALLOW"
        case 0x7ff0_0000: return "TRACE(\(data))"
        case 0x0005_0000: return "ERRNO(\(data))"
        case 0x0003_0000: return "TRAP"
        case 0x7ffc_0000: return "LOG"
        case 0x7fc0_0000: return "USER_NOTIF"
        case 0x8000_0000: return "KILL_PROCESS"
        case 0x0000_0000: return "KILL_THREAD"
        default: return "0x" + String(k, radix: 16)
        }
    }

    static func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }

    static func render(_ i: BPFInstruction, at index: Int) -> String {
        let cls = i.code & 0x07
        switch cls {
        case 0x00:  // LD
            if i.code & 0xe0 == 0x20 { return "ld  \(field(i.k))" }  // BPF_ABS
            if i.code & 0xe0 == 0x00 { return "ld  #\(hex(i.k))" }  // BPF_IMM
            return "ld  ?code=\(hex(UInt32(i.code)))"
        case 0x01: return "ldx ?code=\(hex(UInt32(i.code)))"
        case 0x02: return "st  M[\(i.k)]"
        case 0x03: return "stx M[\(i.k)]"
        case 0x04:  // ALU
            let ops: [UInt16: String] = [0x00: "add", 0x10: "sub", 0x20: "mul", 0x30: "div", 0x40: "or",
                                         0x50: "and", 0x60: "lsh", 0x70: "rsh", 0x80: "neg", 0xa0: "xor"]
            return "\(ops[i.code & 0xf0] ?? "alu?") #\(hex(i.k))"
        case 0x05:  // JMP
            let op = i.code & 0xf0
            let t = index + 1 + Int(i.jt)
            let f = index + 1 + Int(i.jf)
            switch op {
            case 0x00: return "ja  \(index + 1 + Int(i.k))"
            case 0x10: return "jeq #\(hex(i.k)) ? \(t) : \(f)"
            case 0x20: return "jgt #\(hex(i.k)) ? \(t) : \(f)"
            case 0x30: return "jge #\(hex(i.k)) ? \(t) : \(f)"
            case 0x40: return "jset #\(hex(i.k)) ? \(t) : \(f)"
            default: return "j?  code=\(hex(UInt32(i.code)))"
            }
        case 0x06: return "ret \(action(i.k))"
        case 0x07: return i.code & 0xf8 == 0x00 ? "tax" : "txa"
        default: return "?"
        }
    }
}
