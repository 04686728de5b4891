import Foundation
import StrictrunResults

/// A path pattern: `*` (any characters but `/`), `?` (one, not `/`), `[abc]`, `[a-z]`, `[!x]`,
/// and `**` (any characters including `/`; `**/` also matches no directory at all).
public struct Glob: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    private let bytes: [UInt8]

    public init(_ pattern: String) {
        self.pattern = pattern
        bytes = Array(pattern.utf8)
    }

    public var description: String { pattern }

    /// Whether `path` matches the whole pattern.
    public func matches(_ path: String) -> Bool {
        let text = Array(path.utf8)
        var memo = Set<Int>()
        return match(0, text, 0, &memo)
    }

    /// The leading directories without wildcards (`parallel/` of `parallel/test-*.js`): where a
    /// search for matching files can start.
    public var literalDirectory: String {
        var components = pattern.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        components.removeLast()
        var fixed: [String] = []
        for component in components {
            if component.contains(where: { "*?[".contains($0) }) { break }
            fixed.append(component)
        }
        return fixed.joined(separator: "/")
    }

    private func match(_ p: Int, _ text: [UInt8], _ t: Int, _ failed: inout Set<Int>) -> Bool {
        let key = p &* 1_000_003 &+ t
        if failed.contains(key) { return false }
        let result = matchUncached(p, text, t, &failed)
        if !result { failed.insert(key) }
        return result
    }

    private func matchUncached(_ p: Int, _ text: [UInt8], _ t: Int, _ failed: inout Set<Int>) -> Bool {
        if p == bytes.count { return t == text.count }
        let slash = UInt8(ascii: "/")
        switch bytes[p] {
        case UInt8(ascii: "*"):
            if p + 1 < bytes.count, bytes[p + 1] == UInt8(ascii: "*") {
                var next = p + 2
                // `**/` may match zero directories.
                if next < bytes.count, bytes[next] == slash {
                    next += 1
                    if match(next, text, t, &failed) { return true }
                }
                for end in t...text.count where match(next, text, end, &failed) { return true }
                return false
            }
            var end = t
            while true {
                if match(p + 1, text, end, &failed) { return true }
                if end == text.count || text[end] == slash { return false }
                end += 1
            }
        case UInt8(ascii: "?"):
            guard t < text.count, text[t] != slash else { return false }
            return match(p + 1, text, t + 1, &failed)
        case UInt8(ascii: "["):
            guard let end = classEnd(p) else {
                // An unterminated `[` is a literal.
                guard t < text.count, text[t] == bytes[p] else { return false }
                return match(p + 1, text, t + 1, &failed)
            }
            guard t < text.count, text[t] != slash else { return false }
            return matchClass(p, end, text[t]) && match(end + 1, text, t + 1, &failed)
        case let byte:
            guard t < text.count, text[t] == byte else { return false }
            return match(p + 1, text, t + 1, &failed)
        }
    }

    private func classEnd(_ p: Int) -> Int? {
        var i = p + 1
        if i < bytes.count, bytes[i] == UInt8(ascii: "!") || bytes[i] == UInt8(ascii: "^") { i += 1 }
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1 }
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "]") { return i }
            i += 1
        }
        return nil
    }

    private func matchClass(_ p: Int, _ end: Int, _ byte: UInt8) -> Bool {
        var i = p + 1
        var negate = false
        if bytes[i] == UInt8(ascii: "!") || bytes[i] == UInt8(ascii: "^") {
            negate = true
            i += 1
        }
        var found = false
        while i < end {
            let low = bytes[i]
            if i + 2 < end, bytes[i + 1] == UInt8(ascii: "-") {
                if low <= bytes[i + 2], (low...bytes[i + 2]).contains(byte) { found = true }
                i += 3
            } else {
                if low == byte { found = true }
                i += 1
            }
        }
        return found != negate
    }
}

extension Glob {
    /// The files under `root` whose path relative to `root` matches one of `globs`, sorted.
    /// Only the literal directory of each pattern is walked; hidden entries are skipped.
    public static func files(under root: String, matching globs: [Glob]) -> [String] {
        var found = Set<String>()
        let manager = FileManager.default
        for glob in globs {
            let start = glob.literalDirectory
            let base = start.isEmpty ? root : root + "/" + start
            guard let walker = manager.enumerator(atPath: base) else { continue }
            while let entry = walker.nextObject() as? String {
                if entry.split(separator: "/").last?.hasPrefix(".") == true {
                    walker.skipDescendants()
                    continue
                }
                let relative = start.isEmpty ? entry : start + "/" + entry
                guard glob.matches(relative) else { continue }
                var isDirectory: ObjCBool = false
                if manager.fileExists(atPath: root + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue {
                    found.insert(relative)
                }
            }
        }
        return found.sorted()
    }
}
