import Foundation
import StrictrunPolicy
import StrictrunSandbox
import StrictrunStacks

/// Where strictrun finds its profiles, and how it reports failures.
enum Environment {
    /// Profile directories: `$STRICTRUN_PROFILE_PATH` (colon-separated), then
    /// `PREFIX/share/strictrun/profiles` next to an installed binary, then a `Profiles/`
    /// directory above the binary (a build in the source tree).
    static func profileSearchPath() -> [String] {
        var dirs: [String] = []
        if let extra = getenv("STRICTRUN_PROFILE_PATH") {
            dirs += String(cString: extra).split(separator: ":").map(String.init)
        }
        // realpath(3) and stat(2) directly: Foundation's URL symlink resolution and FileManager
        // were ~3 % of an untripped run.
        if let resolved = realpath("/proc/self/exe", nil) {
            defer { free(resolved) }
            var dir = parent(of: String(cString: resolved))
            dirs.append(parent(of: dir) + "/share/strictrun/profiles")
            for _ in 0..<4 {
                dirs.append(dir == "/" ? "/Profiles" : dir + "/Profiles")
                dir = parent(of: dir)
            }
        }
        return dirs.filter { path in
            var info = stat()
            return stat(path, &info) == 0
        }
    }

    /// The directory part of an absolute path ("/" for "/x" and "/").
    private static func parent(of path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")), slash != path.utf8.startIndex else { return "/" }
        return String(path[..<slash])
    }

    /// `STRICTRUN_FS_FALLBACK=landlock`: build the fs view with Landlock even where user
    /// namespaces work (for tests, and for machines where namespaces misbehave).
    static func confinementFallback() -> ConfinementFallback {
        ConfinementFallback(environment: ProcessInfo.processInfo.environment)
    }

    /// The symbol cache's directory from strictrun's own environment (`STRICTRUN_CACHE_DIR`,
    /// `XDG_CACHE_HOME`, `HOME`), to pass down in `StackOptions.symbolCacheDirectory`.
    static func symbolCacheDirectory() -> String? {
        SymbolCacheDirectory.resolve(environment: ProcessInfo.processInfo.environment)
    }

    static func loader() -> ProfileLoader {
        ProfileLoader(searchPath: profileSearchPath(), syscallExists: { SyscallNames.exists($0) })
    }

    /// Load and compile a profile, or print the error and exit with `status`.
    /// `forRun`: the filter is for a program this process will supervise (its pid goes into the
    /// rules that keep the program's signals off it).
    static func compiledPolicy(_ reference: String, audit: Bool = false, forRun: Bool = false,
                               answers: [SiteAnswer] = [], failureStatus: Int32 = 125) -> CompiledPolicy {
        compiledPolicy(profile(reference, audit: audit, answers: answers, failureStatus: failureStatus),
                       forRun: forRun, failureStatus: failureStatus)
    }

    /// Load a profile (with `mode: audit` and `answers` applied), or print the error and exit.
    static func profile(_ reference: String, audit: Bool = false, answers: [SiteAnswer] = [],
                        failureStatus: Int32 = 125) -> Profile {
        do {
            var profile = try loader().load(reference)
            if audit { profile.mode = .audit }
            profile.answers += answers
            return profile
        } catch {
            fail("bad profile: \(error)", status: failureStatus)
        }
    }

    /// Compile a loaded profile, or print the error and exit. A run's filter skips libseccomp's
    /// pseudo-code (only `profile show` prints it).
    static func compiledPolicy(_ profile: Profile, forRun: Bool, failureStatus: Int32 = 125) -> CompiledPolicy {
        do {
            return try FilterCompiler(supervisor: forRun ? ProcessInfo.processInfo.processIdentifier : nil)
                .compile(profile, pseudoCode: !forRun)
        } catch {
            fail("bad profile: \(error)", status: failureStatus)
        }
    }

    static func fail(_ message: String, status: Int32) -> Never {
        FileHandle.standardError.write(Data("strictrun: \(message)\n".utf8))
        exit(status)
    }

    static func note(_ message: String) {
        FileHandle.standardError.write(Data("strictrun: \(message)\n".utf8))
    }
}
