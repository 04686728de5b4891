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
            if let decoded = decodeFilesAndSockets(syscall: syscall, args: args, pid: pid) { return decoded }
            return args.enumerated().map { ("arg\($0.offset)", hex($0.element)) }
        }
    }

    /// The calls of the fs/net sections and the memory calls W^X emulation traces.
    private static func decodeFilesAndSockets(syscall: String, args: [UInt64], pid: pid_t) -> [(String, JSONValue)]? {
        let fd = { (index: Int) -> JSONValue in .int(Int64(Int32(truncatingIfNeeded: args[index]))) }
        let dirfd = { (index: Int) -> JSONValue in
            Int32(truncatingIfNeeded: args[index]) == AT_FDCWD ? .string("AT_FDCWD") : fd(index)
        }
        let path = { (index: Int) -> JSONValue in string(pid, args[index]) }
        let mode = { (index: Int) -> JSONValue in .string("0" + String(args[index] & 0o7777, radix: 8)) }
        let id = { (index: Int) -> JSONValue in .int(Int64(Int32(truncatingIfNeeded: args[index]))) }
        switch syscall {
        case "munmap": return [("addr", hex(args[0])), ("length", .uint(args[1]))]
        case "mremap":
            return [("old_addr", hex(args[0])), ("old_size", .uint(args[1])), ("new_size", .uint(args[2])),
                    ("flags", hex(args[3])), ("new_addr", hex(args[4]))]
        case "open": return [("path", path(0)), ("flags", hex(args[1])), ("mode", mode(2))]
        case "creat": return [("path", path(0)), ("mode", mode(1))]
        case "openat": return [("dirfd", dirfd(0)), ("path", path(1)), ("flags", hex(args[2])), ("mode", mode(3))]
        case "openat2": return [("dirfd", dirfd(0)), ("path", path(1)), ("how", hex(args[2]))]
        case "symlink", "link", "rename":
            return [(syscall == "symlink" ? "target" : "old", path(0)), ("new", path(1))]
        case "symlinkat": return [("target", path(0)), ("newdirfd", dirfd(1)), ("new", path(2))]
        case "linkat", "renameat", "renameat2":
            return [("olddirfd", dirfd(0)), ("old", path(1)), ("newdirfd", dirfd(2)), ("new", path(3))]
        case "readlink", "unlink", "rmdir", "chdir", "stat", "lstat": return [("path", path(0))]
        case "readlinkat", "newfstatat", "statx", "unlinkat": return [("dirfd", dirfd(0)), ("path", path(1))]
        case "mkdir", "chmod", "access": return [("path", path(0)), ("mode", mode(1))]
        case "mkdirat", "fchmodat", "fchmodat2", "faccessat", "faccessat2":
            return [("dirfd", dirfd(0)), ("path", path(1)), ("mode", mode(2))]
        case "fchmod": return [("fd", fd(0)), ("mode", mode(1))]
        case "chown", "lchown": return [("path", path(0)), ("uid", id(1)), ("gid", id(2))]
        case "fchown": return [("fd", fd(0)), ("uid", id(1)), ("gid", id(2))]
        case "fchownat": return [("dirfd", dirfd(0)), ("path", path(1)), ("uid", id(2)), ("gid", id(3))]
        case "mknod": return [("path", path(0)), ("mode", .string("0" + String(args[1], radix: 8)))]
        case "mknodat": return [("dirfd", dirfd(0)), ("path", path(1)), ("mode", .string("0" + String(args[2], radix: 8)))]
        case "truncate": return [("path", path(0)), ("length", .uint(args[1]))]
        case "flock": return [("fd", fd(0)), ("operation", hex(args[1]))]
        case "fcntl": return [("fd", fd(0)), ("cmd", .int(Int64(Int32(truncatingIfNeeded: args[1]))))]
        case "inotify_init": return []
        case "inotify_init1": return [("flags", hex(args[0]))]
        case "inotify_add_watch": return [("fd", fd(0)), ("path", path(1)), ("mask", hex(args[2]))]
        case "fanotify_init": return [("flags", hex(args[0])), ("event_f_flags", hex(args[1]))]
        case "memfd_create": return [("name", path(0)), ("flags", hex(args[1]))]
        case "socket", "socketpair":
            return [("domain", .string(FlagTables.addressFamilyName(args[0]))),
                    ("type", .string(FlagTables.socketTypeNames(args[1]))), ("protocol", .int(Int64(args[2] & 0xffff_ffff)))]
        case "setsockopt":
            return [("fd", fd(0)), ("level", .string(FlagTables.socketLevelName(args[1]))),
                    ("option", .string(FlagTables.socketOptionName(level: args[1], option: args[2])))]
        case "bind", "connect":
            let address = DecodedSockaddr.read(pid: pid, address: args[1], length: args[2])
            return [("fd", fd(0)), ("address", address.map { .string($0.endpoint.description) } ?? hex(args[1]))]
        default: return nil
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
