/// Paths as the kernel sees them: bytes, compared and normalized without a file system (no
/// symlink is followed here), so a name that is not UTF-8 stays what it is.
public enum PathBytes {
    public static let slash = UInt8(ascii: "/")

    public static func isAbsolute(_ path: [UInt8]) -> Bool { path.first == slash }

    /// `.` and `..` resolved lexically, one `/` between components, a leading `/`.
    public static func normalized(_ path: [UInt8]) -> [UInt8] {
        var parts: [ArraySlice<UInt8>] = []
        for part in path.split(separator: slash) {
            if part.elementsEqual([UInt8(ascii: ".")]) { continue }
            if part.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) { _ = parts.popLast(); continue }
            parts.append(part)
        }
        var out: [UInt8] = []
        for part in parts { out.append(slash); out.append(contentsOf: part) }
        return out.isEmpty ? [slash] : out
    }

    /// Whether `path` is `directory` or below it (both absolute and normalized).
    public static func isWithin(_ path: [UInt8], _ directory: [UInt8]) -> Bool {
        if directory == [slash] { return true }
        guard path.starts(with: directory) else { return false }
        return path.count == directory.count || path[directory.count] == slash
    }

    public static func joined(_ base: [UInt8], _ path: [UInt8]) -> [UInt8] { base + [slash] + path }
}
