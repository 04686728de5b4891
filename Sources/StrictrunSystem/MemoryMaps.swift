/// One line of /proc/PID/maps.
public struct Mapping: Sendable, Hashable {
    public var start: UInt64
    public var end: UInt64
    public var readable: Bool
    public var writable: Bool
    public var executable: Bool
    public var shared: Bool
    public var offset: UInt64
    public var inode: UInt64
    /// The path column (file, `[vdso]`, `[heap]`, …), as bytes; empty for anonymous memory.
    public var path: [UInt8]
}

/// The one parser of /proc/PID/maps.
public struct MemoryMaps: Sendable {
    /// The mappings in address order.
    public var mappings: [Mapping]

    /// Reads and parses /proc/PID/maps; nil when it cannot be read.
    public static func read(pid: Int32) -> MemoryMaps? {
        ProcFS.read("/proc/\(pid)/maps").map(MemoryMaps.init(parsing:))
    }

    /// Parses the text of a maps file; malformed lines are skipped.
    public init(parsing bytes: [UInt8]) {
        mappings = []
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            // start-end perms offset dev inode   path
            var fields: [ArraySlice<UInt8>] = []
            var rest = line[...]
            while fields.count < 5, let space = rest.firstIndex(of: UInt8(ascii: " ")) {
                fields.append(rest[..<space])
                rest = rest[(space + 1)...]
            }
            guard fields.count == 5 else { continue }
            let range = fields[0].split(separator: UInt8(ascii: "-"))
            let perms = Array(fields[1])
            guard range.count == 2, perms.count >= 4,
                  let start = UInt64(String(decoding: range[0], as: UTF8.self), radix: 16),
                  let end = UInt64(String(decoding: range[1], as: UTF8.self), radix: 16) else { continue }
            let path = Array(rest.drop { $0 == UInt8(ascii: " ") })
            mappings.append(Mapping(
                start: start, end: end, readable: perms[0] == UInt8(ascii: "r"), writable: perms[1] == UInt8(ascii: "w"),
                executable: perms[2] == UInt8(ascii: "x"), shared: perms[3] == UInt8(ascii: "s"),
                offset: UInt64(String(decoding: fields[2], as: UTF8.self), radix: 16) ?? 0,
                inode: UInt64(String(decoding: fields[4], as: UTF8.self)) ?? 0, path: path))
        }
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

    /// The mapping whose path column is `name` (`[vdso]`).
    public func named(_ name: String) -> Mapping? {
        let bytes = Array(name.utf8)
        return mappings.first { $0.path == bytes }
    }
}
