import StrictrunSystem
import StrictrunTrace

/// Decodes the arguments of a call into named, readable JSON, driven by the syscall table's
/// signatures (`SyscallSignatures`): `prot` as `PROT_READ|PROT_WRITE|PROT_EXEC`, clone flags
/// by name, paths read from the program as bytes. A byte string that is not valid UTF-8 is
/// written losslessly: its key holds the display form, `<key>_hex` the exact bytes.
enum ArgumentDecoder {
    static func hex(_ value: UInt64) -> JSONValue { JSONValue.hex(value) }

    /// Arguments of `syscall` (by name; a call the table has no signature for shows
    /// `arg0`…`arg5` in hex).
    static func decode(syscall: String, args: [UInt64], memory: some MemoryReading) -> [(String, JSONValue)] {
        guard let signature = SyscallSignatures.arguments(of: syscall) else {
            return args.enumerated().map { ("arg\($0.offset)", hex($0.element)) }
        }
        var out: [(String, JSONValue)] = []
        for spec in signature {
            let value = args[spec.index]
            switch spec.kind {
            case .path:
                guard let bytes = memory.cString(at: value) else {
                    out.append((spec.name, hex(value)))
                    continue
                }
                out.append(contentsOf: TraceBytes.members(spec.name, bytes))
            case .pathArray:
                guard let (strings, truncated) = memory.cStringArray(at: value) else {
                    out.append((spec.name, hex(value)))
                    continue
                }
                var items = strings.map { $0.map { JSONValue.string($0.displayText) } ?? .string("<unreadable>") }
                if truncated { items.append(.string("…")) }
                out.append((spec.name, .array(items)))
                if strings.contains(where: { $0.map { !$0.isValidUTF8 } ?? false }) {
                    out.append((spec.name + TraceBytes.hexSuffix, .array(strings.map { .string(TraceBytes.hex($0 ?? [])) })))
                }
            case .sockaddr(let lengthArgument):
                let address = SocketAddress.read(memory, at: value, length: args[lengthArgument])
                if let endpoint = address?.endpoint {
                    out.append((spec.name, .string(endpoint.description)))
                } else if let path = address?.unixPath {
                    out.append(contentsOf: TraceBytes.members(spec.name, path))
                } else {
                    out.append((spec.name, hex(value)))
                }
            default:
                out.append((spec.name, scalar(spec.kind, value, args: args)))
            }
        }
        return out
    }

    /// A value that needs no memory read.
    static func scalar(_ kind: ArgumentKind, _ value: UInt64, args: [UInt64]) -> JSONValue {
        let int32 = Int32(truncatingIfNeeded: value)
        switch kind {
        case .hex, .path, .pathArray, .sockaddr: return hex(value)
        case .uint: return .uint(value)
        case .int32: return .int(Int64(int32))
        case .uint32: return .int(Int64(value & 0xffff_ffff))
        case .dirfd: return int32 == atCurrentDirectory ? .string("AT_FDCWD") : .int(Int64(int32))
        case .prot: return .string(Xlat.protNames(value))
        case .mapFlags: return .string(Xlat.mapFlagNames(value))
        case .cloneFlags: return .string(Xlat.cloneFlagNames(value))
        case .mode: return .string("0" + String(value & 0o7777, radix: 8))
        case .fileMode: return .string("0" + String(value, radix: 8))
        case .addressFamily: return .string(Xlat.addressFamilyName(value))
        case .socketType: return .string(Xlat.socketTypeNames(value))
        case .socketLevel: return .string(Xlat.socketLevelName(value))
        case .socketOption(let level): return .string(Xlat.socketOptionName(level: args[level], option: value))
        }
    }

    /// `mprotect(0x7f.., 245760, PROT_READ|PROT_WRITE|PROT_EXEC)`.
    static func render(syscall: String, decoded: [(String, JSONValue)]) -> String {
        let parts = decoded.filter { !$0.0.hasSuffix("_hex") }.map { _, value -> String in
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
