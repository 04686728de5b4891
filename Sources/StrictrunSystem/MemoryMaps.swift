#if canImport(Glibc)
import Glibc
#endif
import CStrictrunShims

// /proc/PID/maps: the one parser (the tracer's checks, W^X emulation and the stack unwinder
// all read mappings through it).

/// What backs one mapping, as far as symbolization cares.
public enum MappingKind: Hashable, Sendable {
    /// A regular file (an ELF image, normally).
    case file
    /// The kernel's vDSO.
    case vdso
    /// No file: plain anonymous memory, `[anon:NAME]`, memfd / `/dev/zero` views. JIT code
    /// lives here.
    case anonymous
    /// Another kernel-named region: `[heap]`, `[stack]`, `[vsyscall]`, `[vvar]`.
    case special
}

/// One line of /proc/PID/maps.
public struct Mapping: Hashable, Sendable {
    public var start: UInt64
    public var end: UInt64
    public var readable: Bool
    public var writable: Bool
    public var executable: Bool
    /// `s` in the permissions: shared memory (MAP_SHARED), `p` private.
    public var shared: Bool
    public var fileOffset: UInt64
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32
    public var inode: UInt64
    /// The path column, with the kernel's " (deleted)" suffix removed.
    public var path: String
    public var deleted: Bool
    public var kind: MappingKind

    public func contains(_ address: UInt64) -> Bool { address >= start && address < end }

    /// The file offset `address` maps to (wrapping arithmetic: callers check `contains` first).
    public func fileOffset(of address: UInt64) -> UInt64 { (address &- start) &+ fileOffset }
}

/// A process's mappings, sorted by start address.
public struct MemoryMaps: Sendable {
    public private(set) var mappings: [Mapping] = []

    public init(mappings: [Mapping]) {
        self.mappings = mappings.sorted { $0.start < $1.start }
    }

    /// Reads and parses /proc/PID/maps; nil when it cannot be read.
    public static func read(pid: Int32) -> MemoryMaps? {
        ProcFS.read("/proc/\(pid)/maps").map(MemoryMaps.init(parsing:))
    }

    /// Parses the text of a maps file. Malformed lines are skipped.
    public init(parsing bytes: [UInt8]) {
        var result: [Mapping] = []
        var lineStart = 0
        let count = bytes.count
        while lineStart < count {
            var lineEnd = lineStart
            while lineEnd < count && bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            if let mapping = MemoryMaps.parseLine(bytes[lineStart..<lineEnd]) {
                result.append(mapping)
            }
            lineStart = lineEnd + 1
        }
        self.init(mappings: result)
    }

    /// What the mappings over [start, start+length) are: whether every mapped part is already
    /// executable, and whether any part is shared memory. Unmapped parts do not count (the
    /// kernel answers ENOMEM for them).
    public func region(start: UInt64, length: UInt64) -> (allExecutable: Bool, shared: Bool) {
        let end = start &+ ((length + 4095) & ~4095)
        var allExecutable = true
        var shared = false
        for mapping in mappings where mapping.end > start && mapping.start < end {
            if !mapping.executable { allExecutable = false }
            if mapping.shared { shared = true }
        }
        return (allExecutable, shared)
    }

    /// `region(start:length:)` of a live process without reading its whole maps file: one
    /// PROCMAP_QUERY per mapping in the range (Linux 6.11); nil when the kernel cannot answer
    /// that way (then read the maps).
    public static func queryRegion(pid: Int32, start: UInt64, length: UInt64) -> (allExecutable: Bool, shared: Bool)? {
        let fd = open("/proc/\(pid)/maps", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let end = start &+ ((length + 4095) & ~4095)
        var address = start
        var allExecutable = true
        var shared = false
        while address < end {
            var vma = strictrun_vma()
            if strictrun_procmap_query(fd, address, UInt64(STRICTRUN_PROCMAP_COVERING_OR_NEXT), &vma, nil, 0) != 0 {
                if errno == ENOENT { break }
                return nil
            }
            guard vma.start < end else { break }
            if vma.flags & 4 == 0 { allExecutable = false }
            if vma.flags & 8 != 0 { shared = true }
            address = vma.end
        }
        return (allExecutable, shared)
    }

    /// What a file mapping must allow to be found by `fileMappings` (PROCMAP_QUERY_VMA_* flags).
    public struct Permissions: OptionSet, Sendable {
        public let rawValue: UInt64
        public init(rawValue: UInt64) { self.rawValue = rawValue }
        public static let writable = Permissions(rawValue: 2)
        public static let executable = Permissions(rawValue: 4)
        public static let shared = Permissions(rawValue: 8)
    }

    /// The start addresses of the mappings of `file` in a live process that allow all of
    /// `required`, without reading its whole maps file: the kernel walks the VMAs and skips the
    /// others (PROCMAP_QUERY, Linux 6.11; one call per file mapping that qualifies, one when none
    /// does). Nil when the kernel cannot answer that way (then read the maps).
    public static func queryFileMappings(pid: Int32, of file: FileIdentity, allowing required: Permissions) -> [UInt64]? {
        let fd = open("/proc/\(pid)/maps", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var starts: [UInt64] = []
        var address: UInt64 = 0
        while true {
            var vma = strictrun_vma()
            let flags = UInt64(STRICTRUN_PROCMAP_COVERING_OR_NEXT | STRICTRUN_PROCMAP_FILE_BACKED) | required.rawValue
            if strictrun_procmap_query(fd, address, flags, &vma, nil, 0) != 0 {
                return errno == ENOENT ? starts : nil
            }
            if FileIdentity(major: vma.dev_major, minor: vma.dev_minor, inode: vma.inode) == file { starts.append(vma.start) }
            guard vma.end > address else { return nil }  // never loop on a kernel answer that does not advance
            address = vma.end
        }
    }

    /// The start addresses of the mappings of `file` that allow all of `required` (what
    /// `queryFileMappings` asks the kernel, from these parsed lines).
    public func mappings(of file: FileIdentity, allowing required: Permissions) -> [UInt64] {
        mappings.filter { mapping in
            mapping.file == file && (!required.contains(.writable) || mapping.writable)
                && (!required.contains(.executable) || mapping.executable) && (!required.contains(.shared) || mapping.shared)
        }.map(\.start)
    }

    /// The mapping whose path column is `name` (`[vdso]`).
    public func named(_ name: String) -> Mapping? { mappings.first { $0.path == name } }

    /// The mapping holding `address`, by binary search.
    public func mapping(containing address: UInt64) -> Mapping? {
        var low = 0
        var high = mappings.count
        while low < high {
            let mid = (low + high) / 2
            if mappings[mid].start <= address { low = mid + 1 } else { high = mid }
        }
        guard low > 0 else { return nil }
        let candidate = mappings[low - 1]
        return candidate.contains(address) ? candidate : nil
    }

    // "start-end perms offset major:minor inode   path"
    public static func parseLine(_ line: ArraySlice<UInt8>) -> Mapping? {
        var cursor = line.startIndex
        let end = line.endIndex

        func hex(until terminator: UInt8) -> UInt64? {
            var value: UInt64 = 0
            var digits = 0
            while cursor < end, line[cursor] != terminator {
                guard digits < 16, let d = hexDigit(line[cursor]) else { return nil }
                value = value << 4 | UInt64(d)
                digits += 1
                cursor += 1
            }
            guard digits > 0, cursor < end else { return nil }
            cursor += 1  // the terminator
            return value
        }
        func decimal() -> UInt64? {
            var value: UInt64 = 0
            var digits = 0
            while cursor < end, line[cursor] >= UInt8(ascii: "0"), line[cursor] <= UInt8(ascii: "9") {
                guard digits < 20 else { return nil }
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(line[cursor] - UInt8(ascii: "0")))
                guard !o1, !o2 else { return nil }
                value = a
                digits += 1
                cursor += 1
            }
            return digits > 0 ? value : nil
        }

        guard let start = hex(until: UInt8(ascii: "-")),
              let stop = hex(until: UInt8(ascii: " ")), stop > start else { return nil }
        guard end - cursor >= 5 else { return nil }
        let readable = line[cursor] == UInt8(ascii: "r")
        let writable = line[cursor + 1] == UInt8(ascii: "w")
        let executable = line[cursor + 2] == UInt8(ascii: "x")
        let shared = line[cursor + 3] == UInt8(ascii: "s")
        cursor += 4
        guard cursor < end, line[cursor] == UInt8(ascii: " ") else { return nil }
        cursor += 1
        guard let offset = hex(until: UInt8(ascii: " ")),
              let major = hex(until: UInt8(ascii: ":")),
              let minor = hex(until: UInt8(ascii: " ")),
              let inode = decimal() else { return nil }
        while cursor < end && line[cursor] == UInt8(ascii: " ") { cursor += 1 }
        let (path, deleted, kind) = Self.column(String(decoding: line[cursor..<end], as: UTF8.self))
        return Mapping(start: start, end: stop, readable: readable, writable: writable, executable: executable, shared: shared,
                       fileOffset: offset, deviceMajor: UInt32(truncatingIfNeeded: major),
                       deviceMinor: UInt32(truncatingIfNeeded: minor), inode: inode,
                       path: path, deleted: deleted, kind: kind)
    }

    /// The path column: the path without the kernel's " (deleted)", and what backs the mapping.
    static func column(_ text: String) -> (path: String, deleted: Bool, kind: MappingKind) {
        var path = text
        var deleted = false
        if path.hasSuffix(" (deleted)") {
            deleted = true
            path.removeLast(" (deleted)".count)
        }
        let kind: MappingKind
        if path.isEmpty || path.hasPrefix("[anon:") || path.hasPrefix("[anon_shmem:")
            || path.hasPrefix("/memfd:") || path.hasPrefix("memfd:") || path == "/dev/zero"
            || path.hasPrefix("/SYSV") {
            kind = .anonymous
        } else if path == "[vdso]" {
            kind = .vdso
        } else if path.hasPrefix("[") {
            kind = .special
        } else {
            kind = .file
        }
        return (path, deleted, kind)
    }
}

/// The mappings of one live process asked address by address (PROCMAP_QUERY, Linux 6.11), each
/// answer kept: the kernel describes the one VMA asked for instead of formatting the whole maps
/// file (~0.3 ms for a process with 200 mappings). On a kernel without PROCMAP_QUERY the maps
/// file is read and parsed once instead. Not thread-safe; one per process and reader.
public final class MappingQuery {
    public let pid: Int32
    private let fd: Int32
    /// Mappings answered so far, by start address.
    private var known: [Mapping] = []
    /// The parsed maps file, when the kernel cannot be asked one address at a time.
    private var parsed: MemoryMaps?

    /// Nil when the process's maps file cannot be opened (the process is gone).
    public init?(pid: Int32) {
        self.pid = pid
        fd = open("/proc/\(pid)/maps", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
    }

    deinit { close(fd) }

    /// The mapping holding `address` (nil: nothing is mapped there, or the process is gone).
    public func mapping(containing address: UInt64) -> Mapping? {
        if let parsed { return parsed.mapping(containing: address) }
        if let hit = known.first(where: { $0.contains(address) }) { return hit }
        var vma = strictrun_vma()
        var name = [CChar](repeating: 0, count: 4097)
        let rc = name.withUnsafeMutableBufferPointer {
            strictrun_procmap_query(fd, address, 0, &vma, $0.baseAddress, UInt32($0.count))
        }
        if rc != 0 {
            switch errno {
            case ENOENT, ESRCH: return nil
            default:  // ENOTTY, EINVAL: no PROCMAP_QUERY here; ENAMETOOLONG: a name past PATH_MAX
                parsed = MemoryMaps.read(pid: pid) ?? MemoryMaps(mappings: [])
                return parsed?.mapping(containing: address)
            }
        }
        let text = vma.name_size > 0 ? String(cString: name) : ""
        let (path, deleted, kind) = MemoryMaps.column(text)
        let mapping = Mapping(start: vma.start, end: vma.end, readable: vma.flags & 1 != 0, writable: vma.flags & 2 != 0,
                              executable: vma.flags & 4 != 0, shared: vma.flags & 8 != 0, fileOffset: vma.offset,
                              deviceMajor: vma.dev_major, deviceMinor: vma.dev_minor, inode: vma.inode,
                              path: path, deleted: deleted, kind: kind)
        known.append(mapping)
        return mapping
    }
}

@inline(__always)
public func hexDigit(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
}
