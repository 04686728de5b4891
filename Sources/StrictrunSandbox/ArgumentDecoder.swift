#if canImport(Glibc)
import Glibc
#endif
import StrictrunTrace

/// Decodes the arguments of a call a rule matched into named, readable JSON
/// (`prot` as `PROT_READ|PROT_WRITE|PROT_EXEC`, clone flags by name, exec paths read
/// from the tracee), and renders the call in one line for the summary.
enum ArgumentDecoder {
    static func hex(_ value: UInt64) -> JSONValue { .string("0x" + String(value, radix: 16)) }

    /// Arguments of `syscall` (normalized name: `mmap2` decodes like `mmap`).
    static func decode(syscall: String, args: [UInt64], pid: pid_t) -> [(String, JSONValue)] {
        switch syscall {
        case "mmap", "mmap2":
            return [("addr", hex(args[0])), ("length", .uint(args[1])),
                    ("prot", .string(FlagTables.protNames(args[2]))),
                    ("flags", .string(FlagTables.mapFlagNames(args[3]))),
                    ("fd", .int(Int64(Int32(truncatingIfNeeded: args[4])))), ("offset", .uint(args[5]))]
        case "mprotect":
            return [("addr", hex(args[0])), ("length", .uint(args[1])),
                    ("prot", .string(FlagTables.protNames(args[2])))]
        case "pkey_mprotect":
            return [("addr", hex(args[0])), ("length", .uint(args[1])),
                    ("prot", .string(FlagTables.protNames(args[2]))),
                    ("pkey", .int(Int64(Int32(truncatingIfNeeded: args[3]))))]
        case "clone":
            return [("flags", .string(FlagTables.cloneFlagNames(args[0]))), ("stack", hex(args[1]))]
        case "fork", "vfork":
            return []
        case "execve":
            return [("path", string(pid, args[0])), ("argv", stringArray(pid, args[1]))]
        case "execveat":
            return [("dirfd", .int(Int64(Int32(truncatingIfNeeded: args[0])))), ("path", string(pid, args[1])),
                    ("argv", stringArray(pid, args[2])), ("flags", hex(args[4]))]
        default:
            return args.enumerated().map { ("arg\($0.offset)", hex($0.element)) }
        }
    }

    private static func string(_ pid: pid_t, _ address: UInt64) -> JSONValue {
        TraceeMemory.string(pid: pid, at: address).map(JSONValue.string) ?? hex(address)
    }

    private static func stringArray(_ pid: pid_t, _ address: UInt64) -> JSONValue {
        TraceeMemory.stringArray(pid: pid, at: address).map { .array($0.map(JSONValue.string)) } ?? hex(address)
    }

    /// `mprotect(0x7f.., 245760, PROT_READ|PROT_WRITE|PROT_EXEC)`.
    static func render(syscall: String, decoded: [(String, JSONValue)]) -> String {
        let parts = decoded.map { _, value -> String in
            switch value {
            case .string(let s) where s.hasPrefix("0x") || s.uppercased() == s: return s
            case .string(let s): return "\"\(s)\""
            case .array(let items): return "[" + items.map { $0.stringValue.map { "\"\($0)\"" } ?? "?" }.joined(separator: ", ") + "]"
            default: return value.serialized()
            }
        }
        return "\(syscall)(\(parts.joined(separator: ", ")))"
    }
}
