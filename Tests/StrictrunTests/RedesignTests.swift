import Foundation
import StrictrunSystem
import StrictrunTrace
import Testing

/// The redesign's promises, with real programs under the real filter and tracer: bytes from the
/// program stay bytes, openat2's flags are read wherever writing matters, and a call whose
/// decision cannot be made or carried out never runs unchecked.
@Suite("Core: bytes, openat2, fail closed")
struct RedesignTests {
    /// The names in `directory`, as raw bytes (readdir(3): no String in between).
    static func rawNames(_ directory: String) -> [[UInt8]] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if name != [0x2e] && name != [0x2e, 0x2e] { names.append(name) }
        }
        return names
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test("a file whose name is not UTF-8 is created under exactly its bytes (Python and Node, microkernel)")
    func nonUTF8Name() throws {
        let name: [UInt8] = [0x66, 0xff, 0xfe, 0x41]  // "f", 0xff 0xfe, "A": not UTF-8
        for runtime in ["python", "node"] {
            let dir = try Fixture.temporaryDirectory()
            let argv: [String] = runtime == "python"
                ? [Fixture.python, "-c", "import os, sys; d = os.fsencode(sys.argv[1]); "
                    + "fd = os.open(d + b'/f\\xff\\xfeA', os.O_CREAT | os.O_WRONLY, 0o644); os.close(fd); "
                    + "print([n.hex() for n in os.listdir(d)])", dir.path]
                : ["/usr/bin/node", "--jitless", "-e", "const fs = require('fs'); const d = process.argv[1]; "
                    + "fs.closeSync(fs.openSync(Buffer.concat([Buffer.from(d + '/'), Buffer.from([0x66, 0xff, 0xfe, 0x41])]), 'w')); "
                    + "console.log(fs.readdirSync(d, {encoding: 'buffer'}).map(b => b.toString('hex')))", dir.path]
            let (result, trace, path) = try Fixture.strictrun(profile: "microkernel", argv,
                                                               environment: ["PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"])
            #expect(result.status == 0, "\(runtime): \(result.stderr)")
            #expect(Self.rawNames(dir.path) == [name], "\(runtime) created \(Self.rawNames(dir.path).map(Self.hex)), not 66fffe41")
            #expect(result.stdout.contains("66fffe41"), "\(runtime) saw: \(result.stdout)")
            #expect(trace.finalExit != nil, "no final exit in \(path)")
        }
    }

    @Test("the trace records a non-UTF-8 path losslessly: display form under `path`, exact bytes under `path_hex`")
    func losslessTrace() throws {
        let dir = try Fixture.temporaryDirectory()
        let profile = dir.appendingPathComponent("logs-mkdir.yaml").path
        try """
        name: logs-mkdir
        extends: \(Fixture.profilesDirectory)/microkernel.yaml
        rules:
          - {syscall: mkdir, category: fs, name: mkdir-logged, action: log}
        """.write(toFile: profile, atomically: true, encoding: .utf8)
        let (result, trace, path) = try Fixture.strictrun(
            profile: profile, [Fixture.python, "-c", "import os, sys; os.mkdir(os.fsencode(sys.argv[1]) + b'/d\\xff\\xfe')", dir.path])
        #expect(result.status == 0, "\(result.stderr)")
        let event = try #require(trace.policyEvents.first { $0["rule"]?.stringValue == "mkdir-logged" }, "no mkdir event in \(path)")
        let expected = Self.hex(Array((dir.path + "/d").utf8) + [0xff, 0xfe])
        #expect(event["args"]?["path_hex"]?.stringValue == expected)
        #expect(event["args"]?["path"]?.stringValue == dir.path + "/d\u{FFFD}\u{FFFD}")
        #expect(Self.rawNames(dir.path).contains([0x64, 0xff, 0xfe]))
    }

    @Test("openat2 with write flags is writing: the fs view logs it (Landlock fallback) and /proc/self/mem is refused")
    func openat2Writes() throws {
        // genode's image is read-only; in the Landlock fallback the kernel says EACCES, and only a
        // call known to write is attributed to the read-only image.
        let (genode, genodeTrace, genodePath) = try Fixture.strictrun(
            profile: "genode", [Fixture.example("openat2_write"), "/etc/strictrun-openat2-test"],
            environment: ["STRICTRUN_FS_FALLBACK": "landlock", "PATH": "/usr/bin:/bin"])
        #expect(genode.status == 0, "\(genode.stderr)")
        #expect(results(genode.stdout)["openat2-write"] == ["errno=EACCES"])
        #expect(genodeTrace.policyEvents.contains {
            $0["syscall"]?.stringValue == "openat2" && $0["rule"]?.stringValue == "read-only-image"
        }, "no fs/read-only-image event for openat2 in \(genodePath)")
        #expect(results(genode.stdout)["openat2-procmem"] == ["errno=EACCES"])
        // microkernel (no fs view): the W^X level's check reads open_how too.
        let file = try Fixture.temporaryDirectory().appendingPathComponent("written").path
        let (micro, microTrace, microPath) = try Fixture.strictrun(profile: "microkernel", [Fixture.example("openat2_write"), file])
        #expect(results(micro.stdout)["openat2-write"] == ["ok"])
        #expect(results(micro.stdout)["openat2-procmem"] == ["errno=EACCES"])
        #expect(microTrace.policyEvents.contains {
            $0["syscall"]?.stringValue == "openat2" && $0["rule"]?.stringValue == "proc-mem-write" && $0["action"]?.stringValue == "deny"
        }, "no wx/proc-mem-write deny in \(microPath)")
    }

    @Test("unknown rule data at a seccomp stop is refused and logged (forced: the program cannot install such a filter)")
    func unknownRuleData() throws {
        let (result, trace, path) = try Fixture.strictrun(profile: "microkernel", [Fixture.example("fork_static")],
                                                          extra: ["--inject-failure", "rule-data"])
        #expect(results(result.stdout)["fork"] == ["errno=ENOSYS"])
        let event = try #require(trace.policyEvents.first { $0["rule"]?.stringValue == "unknown-rule" }, "no event in \(path)")
        #expect(event["category"]?.stringValue == "escape")
        #expect(event["syscall"]?.stringValue == "fork" || event["syscall"]?.stringValue == "clone")
        #expect(event["errno"]?.stringValue == "ENOSYS")
        #expect(event["reason"]?.stringValue?.contains("30583") == true)  // 0x7777
    }

    @Test("unreadable syscall info: the call is refused (ENOSYS), never run, and the trace says why")
    func unreadableSyscallInfo() throws {
        let (result, trace, path) = try Fixture.strictrun(profile: "microkernel", [Fixture.example("fork_static")],
                                                          extra: ["--inject-failure", "syscall-info"])
        #expect(results(result.stdout)["fork"] == ["errno=ENOSYS"], "\(result.stdout)")
        #expect(!trace.contains { $0["type"]?.stringValue == "process" }, "a child was created: \(path)")
        let event = try #require(trace.policyEvents.first { $0["rule"]?.stringValue == "undecidable" }, "no event in \(path)")
        #expect(event["category"]?.stringValue == "supervisor")
        #expect(event["reason"]?.stringValue?.contains("could not be read") == true)
    }

    @Test("a failed argument pin: the open is refused (EACCES), the file not created, the trace says why")
    func failedPin() throws {
        let file = try Fixture.temporaryDirectory().appendingPathComponent("never").path
        let (result, trace, path) = try Fixture.strictrun(
            profile: "microkernel",
            [Fixture.python, "-c", "import sys\ntry:\n open(sys.argv[1], 'w')\nexcept OSError as e: print('errno', e.errno)", file],
            extra: ["--inject-failure", "pin"], environment: ["PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"])
        #expect(result.stdout.contains("errno \(EACCES)"), "\(result.stdout)\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: file))
        let event = try #require(trace.policyEvents.first { $0["rule"]?.stringValue == "argument-change-failed" },
                                 "no event in \(path)")
        #expect(event["errno"]?.stringValue == "EACCES")
        #expect(event["reason"]?.stringValue?.contains("pinned") == true)
    }

    @Test("a failed deny: the process is killed before the call runs, and the trace says why")
    func failedDeny() throws {
        let (result, trace, path) = try Fixture.strictrun(profile: "microkernel", [Fixture.example("fork_static")],
                                                          extra: ["--inject-failure", "deny"])
        #expect(result.status == 125, "strictrun's own failure outranks the program's status: \(result.status)")
        #expect(results(result.stdout)["fork"] == nil, "the fork returned: \(result.stdout)")
        #expect(!trace.contains { $0["type"]?.stringValue == "process" }, "a child was created: \(path)")
        let event = try #require(trace.policyEvents.first { $0["rule"]?.stringValue == "deny-failed" }, "no event in \(path)")
        #expect(event["action"]?.stringValue == "kill")
        #expect(trace.finalExit?["signal"]?.stringValue == "SIGKILL")
        #expect(trace.finalExit?["error"]?.stringValue?.contains("could not deny") == true)
    }

    @Test("a thread killed while stopped at a traced call is no failure of strictrun: nothing is left to deny")
    func killedWhileStopped() throws {
        // Children that open a file over and over (every open stops under genode), each killed
        // with SIGKILL at a moment that often finds it stopped at one of those opens.
        let script = """
            import subprocess, time
            for i in range(40):
                p = subprocess.Popen(["/bin/sh", "-c", "while :; do : < /etc/hostname; done"])
                time.sleep(0.005 * (i % 4))
                p.kill()
                p.wait()
            print("done")
            """
        let (result, trace, path) = try Fixture.strictrun(profile: "genode", [Fixture.python, "-c", script],
                                                          environment: ["PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"])
        #expect(result.status == 0 && result.stdout.contains("done"), "\(result.status) \(result.stderr)")
        #expect(!trace.policyEvents.contains { $0["category"]?.stringValue == "supervisor" }, "a supervisor event in \(path)")
        #expect(trace.finalExit?["error"] == nil, "\(path)")
    }

    @Test("an O_TRUNC held back that cannot be carried out at the exit stop ends the process; the file keeps its bytes")
    func failedTruncate() throws {
        let file = try Fixture.temporaryDirectory().appendingPathComponent("kept").path
        try Data("old bytes\n".utf8).write(to: URL(fileURLWithPath: file))
        let (result, trace, path) = try Fixture.strictrun(
            profile: "microkernel", [Fixture.python, "-c", "import sys\nopen(sys.argv[1], 'w').write('new')\nprint('wrote')", file],
            extra: ["--inject-failure", "truncate"], environment: ["PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"])
        #expect(result.status == 137 && !result.stdout.contains("wrote"), "\(result.status) \(result.stdout)\(result.stderr)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "old bytes\n")
        let event = try #require(trace.policyEvents.first { $0["rule"]?.stringValue == "truncate-failed" }, "no event in \(path)")
        #expect(event["category"]?.stringValue == "supervisor" && event["action"]?.stringValue == "kill")
        // Without the injected failure the same open truncates as the program asked.
        let (plain, _, _) = try Fixture.strictrun(
            profile: "microkernel", [Fixture.python, "-c", "import sys\nopen(sys.argv[1], 'w').write('new')", file],
            environment: ["PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"])
        #expect(plain.status == 0)
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "new")
    }

    @Test("a W+X request that cannot be rewritten to RW under microkernel-jit is refused, not granted")
    func failedRewrite() throws {
        let (result, trace, path) = try Fixture.strictrun(profile: "microkernel-jit", [Fixture.example("jit_rwx")],
                                                          extra: ["--inject-failure", "rewrite"])
        #expect(results(result.stdout)["mmap-rwx"] == ["errno=EACCES"], "\(result.stdout)")
        #expect(trace.policyEvents.contains { $0["rule"]?.stringValue == "argument-change-failed" }, "no event in \(path)")
    }

    @Test("PROCMAP_QUERY answers what parsing /proc/PID/maps answers, range by range")
    func procmapQuery() throws {
        let maps = try #require(MemoryMaps.read(pid: getpid()))
        var checked = 0
        for mapping in maps.mappings.prefix(40) {
            let length = min(mapping.end - mapping.start, 3 * 4096)
            let parsed = maps.region(start: mapping.start, length: length)
            guard let queried = MemoryMaps.queryRegion(pid: getpid(), start: mapping.start, length: length) else {
                Issue.record("PROCMAP_QUERY unavailable on this kernel")
                return
            }
            #expect(queried.allExecutable == parsed.allExecutable && queried.shared == parsed.shared,
                    "0x\(String(mapping.start, radix: 16)): query \(queried), maps \(parsed)")
            checked += 1
        }
        #expect(checked > 5)
    }

    @Test("PROCMAP_QUERY finds a file's shared writable and executable mappings as /proc/PID/maps lists them")
    func procmapFileQuery() throws {
        // A file mapped twice by this process: shared and writable at one address, executable at another.
        let file = try Fixture.temporaryDirectory().appendingPathComponent("aliased")
        try Data(repeating: 0xc3, count: 3 * 4096).write(to: file)
        let fd = open(file.path, O_RDWR)
        try #require(fd >= 0)
        defer { close(fd) }
        let writable = mmap(nil, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        let executable = mmap(nil, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 4096)
        try #require(writable != MAP_FAILED && executable != MAP_FAILED)
        defer { munmap(writable, 2 * 4096); munmap(executable, 4096) }
        var info = stat()
        try #require(fstat(fd, &info) == 0)
        let identity = FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        let ownImage = try #require(ProcFS.identity(Array("/proc/self/exe".utf8), follow: true))
        let maps = try #require(MemoryMaps.read(pid: getpid()))
        let cases: [(FileIdentity, MemoryMaps.Permissions)] = [
            (identity, [.writable, .shared]), (identity, .executable), (identity, [.executable, .shared]),
            (ownImage, .executable), (ownImage, [.writable, .shared]),
        ]
        for (file, required) in cases {
            guard let queried = MemoryMaps.queryFileMappings(pid: getpid(), of: file, allowing: required) else {
                Issue.record("PROCMAP_QUERY unavailable on this kernel")
                return
            }
            #expect(queried == maps.mappings(of: file, allowing: required), "\(file) \(required.rawValue)")
        }
        let address = { (pointer: UnsafeMutableRawPointer?) in UInt64(UInt(bitPattern: pointer)) }
        #expect(MemoryMaps.queryFileMappings(pid: getpid(), of: identity, allowing: [.writable, .shared]) == [address(writable)])
        #expect(MemoryMaps.queryFileMappings(pid: getpid(), of: identity, allowing: .executable) == [address(executable)])
        #expect(MemoryMaps.queryFileMappings(pid: getpid(), of: ownImage, allowing: .executable)?.count == 1)
    }

    @Test("PROCMAP_QUERY describes each mapping, address by address, as /proc/PID/maps lists it")
    func procmapMappingQuery() throws {
        // What the unwinder asks about: images (this test binary, the system's libraries) and the vDSO.
        // Anonymous memory and other files are left out: the other tests' threads grow their malloc
        // arenas and map their own files meanwhile.
        let maps = try #require(MemoryMaps.read(pid: getpid()))
        let query = try #require(MappingQuery(pid: getpid()))
        let ownImage = try #require(ProcFS.identity(Array("/proc/self/exe".utf8), follow: true))
        let stable = { (mapping: Mapping) in
            mapping.kind == .vdso || mapping.file == ownImage
                || (mapping.kind == .file && (mapping.path.hasPrefix("/usr/") || mapping.path.hasPrefix("/lib")))
        }
        var checked = 0
        for mapping in maps.mappings where stable(mapping) {
            for address in [mapping.start, mapping.end - 1] {
                let answer = query.mapping(containing: address)
                #expect(answer == mapping, "0x\(String(address, radix: 16)): query \(String(describing: answer)), maps \(mapping)")
            }
            checked += 1
        }
        #expect(checked > 20)
        // Below the first mapping nothing is mapped.
        #expect(query.mapping(containing: 0x1000) == nil)
    }
}
