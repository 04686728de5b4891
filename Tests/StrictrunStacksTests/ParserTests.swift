// The pure parts: maps and perf-map parsing (hostile input included), demangling, hashing.
import Foundation
@testable import StrictrunStacks
import Testing

@Suite("Parsers, demangler, hash")
struct ParserTests {
    @Test("/proc/PID/maps lines: files, deleted files, vdso, anonymous and named anonymous memory")
    func mapsLines() throws {
        let text = """
        00400000-00b6f000 r--p 00000000 fe:00 254465                             /usr/bin/node
        7feecee00000-7feecef92000 r-xp 014c4000 fe:00 254465                     /usr/bin/node
        7feeaefc3000-7feeaefff000 rwxp 00000000 00:00 0 
        7f0000001000-7f0000002000 r-xp 00000000 00:00 0                          [anon:v8 code]
        7f0000002000-7f0000003000 r-xs 00000000 00:01 77                         /memfd:jit (deleted)
        7f0000003000-7f0000004000 r-xp 00001000 fe:00 42                         /opt/my lib/libx.so (deleted)
        7feed6388000-7feed638a000 r-xp 00000000 00:00 0                          [vdso]
        7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]
        garbage line
        ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
        10-5 r-xp 00000000 00:00 0
        """
        let maps = ProcessMaps(parsing: Array(text.utf8))
        #expect(maps.mappings.count == 9)
        let remap = try #require(maps.mapping(containing: 0x7feecee00010))
        #expect(remap.kind == .file && remap.path == "/usr/bin/node" && remap.executable && !remap.writable)
        #expect(remap.fileOffset(of: 0x7feecee00010) == 0x14c4010)
        #expect(remap.deviceMajor == 0xfe && remap.inode == 254465)
        #expect(maps.mapping(containing: 0x7feeaefc3000)?.kind == .anonymous)
        #expect(maps.mapping(containing: 0x7feeaefff000) == nil)
        #expect(maps.mapping(containing: 0x7f0000001800)?.kind == .anonymous)
        #expect(maps.mapping(containing: 0x7f0000002800)?.kind == .anonymous)
        let deleted = try #require(maps.mapping(containing: 0x7f0000003000))
        #expect(deleted.kind == .file && deleted.deleted && deleted.path == "/opt/my lib/libx.so")
        #expect(maps.mapping(containing: 0x7feed6389000)?.kind == .vdso)
        #expect(maps.mapping(containing: 0x7ffc00000100)?.kind == .special)
        #expect(maps.mapping(containing: 0xffffffffff600100)?.path == "[vsyscall]")
        #expect(maps.mapping(containing: 0x3ff000) == nil)
    }

    @Test("Our own /proc/self/maps: the code of this test binary is a file mapping")
    func ownMaps() throws {
        let maps = try ProcessMaps.read(pid: getpid())
        let here = UInt64(UInt(bitPattern: unsafeBitCast(ParserTests.marker as @convention(c) () -> Void, to: UnsafeRawPointer.self)))
        let mapping = try #require(maps.mapping(containing: here))
        #expect(mapping.kind == .file && mapping.executable)
        #expect(maps.mappings.contains { $0.kind == .vdso })
    }

    static let marker: @convention(c) () -> Void = {}

    @Test("Perf map: incremental reads, partial lines, overlaps (newest wins), garbage")
    func perfMapIncremental() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.path + "/perf-1.map"
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        defer { try? handle.close() }
        func append(_ text: String) throws { try handle.write(contentsOf: Data(text.utf8)) }

        var map = PerfMap(path: path)
        #expect(map.refresh() == 0)
        try append("1000 100 JS:*fib /app/x.js:3\n0x2000 0x10 LazyCompile:~main /app/x.js:9\n3000 2")
        #expect(map.refresh() == 2)  // the third line is not finished yet
        #expect(map.lookup(0x1050)?.name == "JS:*fib /app/x.js:3")
        #expect(map.lookup(0x1100) == nil)
        #expect(map.lookup(0x2008)?.name == "LazyCompile:~main /app/x.js:9")
        #expect(map.lookup(0x3000) == nil)
        try append("0 JS:later\nzz 10 bad\n4000 0 zero\nffffffffffffffff 10 overflow\n\n1040 20 JS:*fib2 /app/x.js:3\n")
        #expect(map.refresh() == 2)
        #expect(map.lookup(0x3001)?.name == "JS:later")
        // Code at 0x1040.. was freed and reused: the newer entry wins inside it, the older outside.
        #expect(map.lookup(0x1050)?.name == "JS:*fib2 /app/x.js:3")
        #expect(map.lookup(0x1070)?.name == "JS:*fib /app/x.js:3")
        #expect(map.refresh() == 0)
        try append(String(repeating: "x", count: 10_000) + "\n5000 10 JS:after-long-line\n")
        #expect(map.refresh() == 1)
        #expect(map.lookup(0x5000)?.name == "JS:after-long-line")
    }

    @Test("Demangling: C++, Swift and plain names; oversized names are left alone")
    func demangling() {
        #expect(Demangler.demangle("_ZNSt6thread6_StateD2Ev") == "std::thread::_State::~_State()")
        #expect(Demangler.demangle("_ZN2v88internal9Execution4CallEv") == "v8::internal::Execution::Call()")
        #expect(Demangler.demangle("$sSi1poiyS2i_SitFZ") == "static Swift.Int.+ infix(Swift.Int, Swift.Int) -> Swift.Int")
        #expect(Demangler.demangle("main") == "main")
        #expect(Demangler.demangle("_Znotmangled!") == "_Znotmangled!")
        #expect(Demangler.demangle("Builtins_JSEntry") == "Builtins_JSEntry")
        #expect(Demangler.demangle("_Z" + String(repeating: "N", count: 20_000)).hasPrefix("_Z"))
    }

    @Test("FNV-1a 64 test vectors and JIT-name normalization")
    func hashing() {
        func fnv(_ text: String) -> String {
            var hash = FNV1a64()
            hash.add(text)
            return hash.hex
        }
        #expect(fnv("") == "cbf29ce484222325")
        #expect(fnv("a") == "af63dc4c8601ec8c")
        #expect(fnv("foobar") == "85944171f73967e8")
        #expect(normalizeJITName("JS:*fib /app/x.js:3") == "JS:fib /app/x.js:3")
        #expect(normalizeJITName("LazyCompile:~fib /app/x.js:3") == "JS:fib /app/x.js:3")
        #expect(normalizeJITName("Builtin:ArgumentsAdaptorTrampoline") == "Builtin:ArgumentsAdaptorTrampoline")
        let tiers = ["JS:*fib x.js:1", "JS:~fib x.js:1", "JS:^fib x.js:1"].map {
            callSite(of: [StackFrame(pc: 1, module: "[jit]", symbol: $0)], count: 1).id
        }
        #expect(Set(tiers).count == 1)
        #expect(callSite(of: [], count: 5) == ("cbf29ce484222325", 0))
        #expect(moduleBasename("/usr/lib/x86_64-linux-gnu/libc.so.6") == "libc.so.6")
        #expect(moduleBasename(nil) == "?")
        #expect(moduleBasename("[vdso]") == "[vdso]")
    }
}
