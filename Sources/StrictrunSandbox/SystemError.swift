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

/// Runs `body` (a raw call returning -1 with errno on failure) and throws on failure.
@discardableResult
func valueOrErrno<T: BinaryInteger>(_ operation: @autoclosure () -> String, _ body: () -> T) throws(SystemError) -> T {
    let result = body()
    if result < 0 { throw SystemError(operation(), errno: errno) }
    return result
}
