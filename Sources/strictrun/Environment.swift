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

    /// The program and its arguments as this process's argv holds them: the last `command.count`
    /// words (they always end the command line), bytes as given. `CommandLine.arguments` repairs
    /// words that are not UTF-8; the parsers read those, the program gets these. Should the two
    /// ever not line up, the parsed words are used.
    static func commandBytes(_ command: [String]) -> [[UInt8]] {
        let count = Int(CommandLine.argc)
        guard command.count <= count else { return command.map { Array($0.utf8) } }
        let raw = (count - command.count..<count).map { index -> [UInt8] in
            guard let word = CommandLine.unsafeArgv[index] else { return [] }
            return Array(UnsafeRawBufferPointer(start: word, count: strlen(word)))
        }
        let agrees = zip(raw, command).allSatisfy { String(decoding: $0, as: UTF8.self) == $1 }
        return agrees ? raw : command.map { Array($0.utf8) }
    }

    /// `STRICTRUN_FS_FALLBACK=landlock`: build the fs view with Landlock even where user
    /// namespaces work (for tests, and for machines where namespaces misbehave).
    static func confinementFallback() -> ConfinementFallback {
        ConfinementFallback(environment: variables([ConfinementFallback.environmentVariable]))
    }

    /// The named variables by getenv, not ProcessInfo's whole dictionary (built anew each time,
    /// ~30 µs of a run at each use).
    static func variables(_ names: [String]) -> [String: String] {
        var found: [String: String] = [:]
        for name in names { found[name] = getenv(name).map { String(cString: $0) } }
        return found
    }

    /// The symbol cache's directory from strictrun's own environment (`STRICTRUN_CACHE_DIR`,
    /// `XDG_CACHE_HOME`, `HOME`), to pass down in `StackOptions.symbolCacheDirectory`.
    static func symbolCacheDirectory() -> String? {
        SymbolCacheDirectory.resolve(environment: variables(["STRICTRUN_CACHE_DIR", "XDG_CACHE_HOME", "HOME"]))
    }

    static func loader() -> ProfileLoader {
        ProfileLoader(searchPath: profileSearchPath(), syscallExists: { SyscallNames.exists($0) })
    }

    /// Load and compile a profile, or print the error and exit with `status`.
    static func compiledPolicy(_ reference: String, cached: Bool = false, cacheStats: Bool = false,
                               failureStatus: Int32 = 125) -> CompiledPolicy {
        compiledPolicy(profile(reference, failureStatus: failureStatus), forRun: false, cached: cached,
                       cacheStats: cacheStats, failureStatus: failureStatus)
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

    /// Compile a loaded profile, or print the error and exit. `forRun`: the filter is for a program
    /// this process will supervise (its pid goes into the rules that keep the program's signals
    /// off it), and skips libseccomp's pseudo-code (only `profile show` and `bpf` print it).
    /// `cached`: through the filter cache when there is one (`filterCache`); `cacheStats`: say
    /// on stderr what the cache did and which program came out (hidden `--filter-cache-stats`).
    static func compiledPolicy(_ profile: Profile, forRun: Bool, cached: Bool = false, cacheStats: Bool = false,
                               failureStatus: Int32 = 125) -> CompiledPolicy {
        let supervisor = forRun ? ProcessInfo.processInfo.processIdentifier : nil
        let compiler = FilterCompiler(supervisor: supervisor)
        do {
            let policy: CompiledPolicy
            // What the cache did, made into text only when asked (a run that prints nothing made it anyway).
            let report: () -> String
            switch cached ? filterCache() : .failure(FilterCacheOff(reason: "not used by this command")) {
            case .success(let cache):
                let compiled = try compiler.compile(profile, pseudoCode: !forRun, cache: cache)
                (policy, report) = (compiled.policy, { compiled.report.description })
            case .failure(let off):
                (policy, report) = (try compiler.compile(profile, pseudoCode: !forRun), { off.reason })
            }
            if cacheStats {
                note("filter cache: \(report()); program \(policy.program.count) instructions, sha256 "
                     + "\(FilterCache.digest(policy.program)), supervisor \(supervisor.map(String.init) ?? "none")")
            }
            return policy
        } catch {
            fail("bad profile: \(error)", status: failureStatus)
        }
    }

    /// Why a compilation went without the filter cache.
    struct FilterCacheOff: Error {
        var reason: String
    }

    /// The filter cache (`SymbolCacheDirectory.filters`: `filters/` in `STRICTRUN_CACHE_DIR`,
    /// `$XDG_CACHE_HOME/strictrun`, `~/.cache/strictrun`), keyed by strictrun's version and build-id;
    /// none with `STRICTRUN_FILTER_CACHE=0`, `STRICTRUN_CACHE_DIR=off`, or when the directory or the
    /// keyring's secret cannot be had (then every filter is compiled, as without a cache).
    static func filterCache() -> Result<FilterCache, FilterCacheOff> {
        let environment = variables(["STRICTRUN_FILTER_CACHE", "STRICTRUN_CACHE_DIR", "XDG_CACHE_HOME", "HOME"])
        if environment["STRICTRUN_FILTER_CACHE"] == "0" { return .failure(FilterCacheOff(reason: "off (STRICTRUN_FILTER_CACHE=0)")) }
        guard let directory = SymbolCacheDirectory.filters(environment: environment) else {
            return .failure(FilterCacheOff(reason: "off (no cache directory)"))
        }
        guard let identity = CompilerIdentity.running(version: strictrunVersion) else {
            return .failure(FilterCacheOff(reason: "off (strictrun's executable has no build-id)"))
        }
        do {
            return .success(try FilterCache(directory: directory, identity: identity))
        } catch {
            return .failure(FilterCacheOff(reason: "unavailable (\(error))"))
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
