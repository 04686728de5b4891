#if canImport(Glibc)
import Glibc
#endif
import CStrictrunShims

/// Reads the memory of a stopped program. Tracee memory is hostile input: a read can fail or
/// return garbage, and callers show what they could. Everything read is bytes; a `String`
/// made from them is for display only (`displayText`), never written back.
public protocol MemoryReading {
    /// Up to `count` bytes at `address`; fewer (or none) where memory is unreadable.
    func read(at address: UInt64, count: Int) -> [UInt8]
}

extension MemoryReading {
    /// A NUL-terminated byte string at `address`, at most `limit` bytes; nil when unreadable.
    /// Reads never cross a page boundary in one go (the next page may be unmapped).
    public func cString(at address: UInt64, limit: Int = 4096) -> [UInt8]? {
        guard address != 0 else { return nil }
        var bytes: [UInt8] = []
        var cursor = address
        while bytes.count < limit {
            let pageRest = Int(4096 - cursor % 4096)
            let chunk = read(at: cursor, count: min(pageRest, limit - bytes.count))
            if chunk.isEmpty { return bytes.isEmpty ? nil : bytes }
            if let end = chunk.firstIndex(of: 0) {
                bytes.append(contentsOf: chunk[..<end])
                return bytes
            }
            bytes.append(contentsOf: chunk)
            cursor += UInt64(chunk.count)
        }
        return bytes
    }

    /// A little-endian 64-bit word; nil when unreadable.
    public func word(at address: UInt64) -> UInt64? {
        let bytes = read(at: address, count: 8)
        guard bytes.count == 8 else { return nil }
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    }

    /// A NULL-terminated array of string pointers (argv), at most `limit` entries: the
    /// strings, and whether the array went on past the limit.
    public func cStringArray(at address: UInt64, limit: Int = 64) -> (strings: [[UInt8]?], truncated: Bool)? {
        guard address != 0 else { return nil }
        var out: [[UInt8]?] = []
        for index in 0..<limit {
            guard let pointer = word(at: address + UInt64(index * 8)) else { return out.isEmpty ? nil : (out, false) }
            if pointer == 0 { return (out, false) }
            out.append(cString(at: pointer))
        }
        return (out, true)
    }
}

/// The memory of one traced process (process_vm_readv / process_vm_writev).
public struct TraceeMemory: MemoryReading, Sendable {
    public var pid: pid_t

    public init(pid: pid_t) { self.pid = pid }

    public func read(at address: UInt64, count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        let n = bytes.withUnsafeMutableBytes { strictrun_read_memory(pid, address, $0.baseAddress, $0.count) }
        return n <= 0 ? [] : Array(bytes[0..<n])
    }

    /// Writes `bytes` at `address`; whether all of them were written.
    @discardableResult
    public func write(_ bytes: [UInt8], at address: UInt64) -> Bool {
        let n = bytes.withUnsafeBytes { strictrun_write_memory(pid, address, $0.baseAddress, $0.count) }
        return n == bytes.count
    }
}

extension Array where Element == UInt8 {
    /// The bytes as text for display: invalid UTF-8 becomes U+FFFD. Never write it back.
    public var displayText: String { String(decoding: self, as: UTF8.self) }

    /// Whether the bytes are valid UTF-8 (so `displayText` is exact).
    public var isValidUTF8: Bool { String(validating: self, as: UTF8.self) != nil }
}
