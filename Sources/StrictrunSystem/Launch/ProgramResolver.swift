#if canImport(Glibc)
import Glibc
#endif

/// Why a program cannot be run, with the exit status a shell would give (126/127).
public struct LaunchError: Error, Sendable, CustomStringConvertible {
    public var program: String
    public var reason: String
    /// 127: not found; 126: found but cannot be executed.
    public var exitStatus: Int32
    public var description: String { "\(program): \(reason)" }

    public init(program: String, reason: String, exitStatus: Int32) {
        self.program = program
        self.reason = reason
        self.exitStatus = exitStatus
    }
}

/// Finds the file `execve` should run, as a shell does: a name with `/` is used as is,
/// others are searched in `PATH`. Names are bytes: a file whose name is not UTF-8 is found as
/// it is (messages show it decoded).
public enum ProgramResolver {
    public static func resolve(_ program: [UInt8], path: [UInt8]?) throws(LaunchError) -> [UInt8] {
        let shown = String(decoding: program, as: UTF8.self)
        if program.isEmpty {
            throw LaunchError(program: shown, reason: "empty program name", exitStatus: 127)
        }
        let slash = UInt8(ascii: "/")
        if program.contains(slash) {
            try check(program, shownAs: shown)
            return program
        }
        let directories = (path ?? Array("/usr/local/bin:/usr/bin:/bin".utf8))
            .split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        var firstUnusable: LaunchError?
        for directory in directories {
            let candidate = (directory.isEmpty ? [UInt8(ascii: ".")] : Array(directory)) + [slash] + program
            do {
                try check(candidate, shownAs: shown)
                return candidate
            } catch where error.exitStatus == 126 {
                firstUnusable = firstUnusable ?? error
            } catch {
                continue
            }
        }
        if let firstUnusable { throw firstUnusable }
        throw LaunchError(program: shown, reason: "command not found", exitStatus: 127)
    }

    /// stat + access(X_OK): 127 when missing, 126 when a directory or not executable.
    private static func check(_ file: [UInt8], shownAs name: String) throws(LaunchError) {
        let cFile = file.map { CChar(bitPattern: $0) } + [0]
        var info = stat()
        if stat(cFile, &info) != 0 {
            let code = errno
            throw LaunchError(program: name, reason: String(cString: strerror(code)),
                              exitStatus: code == ENOENT || code == ENOTDIR ? 127 : 126)
        }
        if info.st_mode & S_IFMT == S_IFDIR {
            throw LaunchError(program: name, reason: "is a directory", exitStatus: 126)
        }
        if access(cFile, X_OK) != 0 {
            throw LaunchError(program: name, reason: String(cString: strerror(errno)), exitStatus: 126)
        }
    }

    /// The exit status for an execve errno reported by the child (ENOENT → 127, else 126).
    public static func exitStatus(forExecErrno code: Int32) -> Int32 {
        code == ENOENT || code == ENOTDIR ? 127 : 126
    }
}
