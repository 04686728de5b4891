// /proc/PID/maps, parsed once per process and re-read only when a pc falls outside every
// known mapping.

/// What backs one mapping, as far as symbolization cares.
enum MappingKind: Hashable, Sendable {
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
struct Mapping: Hashable, Sendable {
    var start: UInt64
    var end: UInt64
    var readable: Bool
    var writable: Bool
    var executable: Bool
    var fileOffset: UInt64
    var deviceMajor: UInt32
    var deviceMinor: UInt32
    var inode: UInt64
    /// The path column, with the kernel's " (deleted)" suffix removed.
    var path: String
    var deleted: Bool
    var kind: MappingKind

    func contains(_ address: UInt64) -> Bool { address >= start && address < end }

    /// The file offset `address` maps to (wrapping arithmetic: callers check `contains` first).
    func fileOffset(of address: UInt64) -> UInt64 { (address &- start) &+ fileOffset }
}

/// A process's mappings, sorted by start address.
struct ProcessMaps: Sendable {
    private(set) var mappings: [Mapping] = []

    init(mappings: [Mapping]) {
        self.mappings = mappings.sorted { $0.start < $1.start }
    }

    /// Read and parse /proc/PID/maps.
    static func read(pid: Int32) throws(StackError) -> ProcessMaps {
        let bytes = try SystemCalls.readFile("/proc/\(pid)/maps")
        return ProcessMaps(parsing: bytes)
    }

    /// Parse the text of a maps file. Malformed lines are skipped.
    init(parsing bytes: [UInt8]) {
        var result: [Mapping] = []
        var lineStart = 0
        let count = bytes.count
        while lineStart < count {
            var lineEnd = lineStart
            while lineEnd < count && bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            if let mapping = ProcessMaps.parseLine(bytes[lineStart..<lineEnd]) {
                result.append(mapping)
            }
            lineStart = lineEnd + 1
        }
        self.init(mappings: result)
    }

    /// The mapping holding `address`, by binary search.
    func mapping(containing address: UInt64) -> Mapping? {
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
    static func parseLine(_ line: ArraySlice<UInt8>) -> Mapping? {
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
        cursor += 4
        guard cursor < end, line[cursor] == UInt8(ascii: " ") else { return nil }
        cursor += 1
        guard let offset = hex(until: UInt8(ascii: " ")),
              let major = hex(until: UInt8(ascii: ":")),
              let minor = hex(until: UInt8(ascii: " ")),
              let inode = decimal() else { return nil }
        while cursor < end && line[cursor] == UInt8(ascii: " ") { cursor += 1 }
        var path = String(decoding: line[cursor..<end], as: UTF8.self)
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
        return Mapping(start: start, end: stop, readable: readable, writable: writable, executable: executable,
                       fileOffset: offset, deviceMajor: UInt32(truncatingIfNeeded: major),
                       deviceMinor: UInt32(truncatingIfNeeded: minor), inode: inode,
                       path: path, deleted: deleted, kind: kind)
    }
}

@inline(__always)
func hexDigit(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
}
