#if canImport(Glibc)
import Glibc
#endif

/// A process environment as the kernel passes it: `NAME=value` byte strings, in their order.
/// `ProcessInfo.environment` is a dictionary of `String`s: it loses the order and repairs a value
/// that is not UTF-8, so a program launched from it would not see what its user gave it.
public enum EnvironmentEntries {
    /// This process's own environment (`environ`), entry by entry.
    public static func current() -> [[UInt8]] {
        var entries: [[UInt8]] = []
        let start: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = environ  // NULL after clearenv()
        guard var cursor = start else { return entries }
        while let entry = cursor.pointee {
            entries.append(Array(UnsafeRawBufferPointer(start: entry, count: strlen(entry))))
            cursor += 1
        }
        return entries
    }

    /// The value of the first entry named `name`.
    public static func value(_ name: String, in entries: [[UInt8]]) -> [UInt8]? {
        let prefix = Array(name.utf8) + [UInt8(ascii: "=")]
        return entries.first { $0.starts(with: prefix) }.map { Array($0.dropFirst(prefix.count)) }
    }

    /// `entries` with each of `values` set: an entry of that name takes the new value where it
    /// stands (any later duplicates dropped); a new name goes at the end, in name order.
    public static func setting(_ values: [String: String], in entries: [[UInt8]]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var placed = Set<String>()
        for entry in entries {
            let name = String(decoding: entry.prefix { $0 != UInt8(ascii: "=") }, as: UTF8.self)
            guard let value = values[name], entry.contains(UInt8(ascii: "=")) else {
                out.append(entry)
                continue
            }
            if placed.insert(name).inserted { out.append(Array("\(name)=\(value)".utf8)) }
        }
        for name in values.keys.sorted() where !placed.contains(name) {
            out.append(Array("\(name)=\(values[name]!)".utf8))
        }
        return out
    }
}
