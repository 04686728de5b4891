#if canImport(Glibc)
import Glibc
#endif

/// A kernel call that failed: which call, on what, and the errno it returned.
public struct SystemError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var errno: Int32

    public init(_ operation: String, errno: Int32 = Glibc.errno) {
        self.operation = operation
        self.errno = errno
    }

    public var description: String { "\(operation): \(String(cString: strerror(errno)))" }
}

extension SystemError {
    /// The errno of the calling thread (after a failed libc call).
    public static var lastErrno: Int32 { Glibc.errno }

    /// strerror(3).
    public static func text(_ code: Int32) -> String { String(cString: strerror(code)) }
}

/// Runs `body` (a raw call returning -1 with errno on failure) and throws on failure.
@discardableResult
public func valueOrErrno<T: BinaryInteger>(_ operation: @autoclosure () -> String, _ body: () -> T) throws(SystemError) -> T {
    let result = body()
    if result < 0 { throw SystemError(operation(), errno: errno) }
    return result
}

/// A process or thread id (pid_t), for code that does not import Glibc.
public typealias ProcessID = Int32
