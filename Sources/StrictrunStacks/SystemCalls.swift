// The one place in StrictrunStacks that calls libc: reading procfs and perf-map files,
// stat(2), and free(3) for C strings handed to us by demanglers.
import Glibc

/// A failure inside StrictrunStacks. Never thrown out of the public API: it ends up as the
/// `error` text of a `StackTrace`.
enum StackError: Error, CustomStringConvertible {
    /// A libc call failed: the operation, what it was applied to, and errno.
    case system(operation: String, subject: String, errno: Int32)
    /// A libdw call failed: the call and `dwfl_errmsg`.
    case libdw(operation: String, message: String)

    var description: String {
        switch self {
        case let .system(operation, subject, code):
            return "\(operation)(\(subject)): \(SystemCalls.errorText(code)) (errno \(code))"
        case let .libdw(operation, message):
            return "\(operation): \(message)"
        }
    }
}

/// Identity of a file on disk, used to share per-file work across processes.
struct FileStat: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var mtimeSeconds: Int64
    var mtimeNanoseconds: Int64
}

enum SystemCalls {
    /// strerror(3).
    static func errorText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }

    /// open(2) + read(2) until EOF (procfs files report size 0), at most `limit` bytes,
    /// starting at `offset` (pread(2)). EINTR is retried.
    static func readFile(_ path: String, from offset: UInt64 = 0, limit: Int = 64 << 20) throws(StackError) -> [UInt8] {
        let fd = path.withCString { open($0, O_RDONLY | O_CLOEXEC) }
        if fd < 0 { throw .system(operation: "open", subject: path, errno: errno) }
        defer { close(fd) }
        var out: [UInt8] = []
        var position = off_t(truncatingIfNeeded: offset)
        var chunk = [UInt8](repeating: 0, count: 65536)
        while out.count < limit {
            let want = min(chunk.count, limit - out.count)
            let got = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, position) }
            if got < 0 {
                if errno == EINTR { continue }
                throw .system(operation: "pread", subject: path, errno: errno)
            }
            if got == 0 { break }
            out.append(contentsOf: chunk[0..<got])
            position += off_t(got)
        }
        return out
    }

    /// stat(2). Nil when the file cannot be stat'ed (deleted, permissions).
    static func fileStat(_ path: String) -> FileStat? {
        var info = stat()
        let rc = path.withCString { stat($0, &info) }
        guard rc == 0 else { return nil }
        return FileStat(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                        mtimeSeconds: Int64(info.st_mtim.tv_sec), mtimeNanoseconds: Int64(info.st_mtim.tv_nsec))
    }

    /// Copy a malloc'd C string into a Swift string and free(3) it.
    static func takeCString(_ pointer: UnsafeMutablePointer<CChar>) -> String {
        defer { free(pointer) }
        return String(cString: pointer)
    }
}
