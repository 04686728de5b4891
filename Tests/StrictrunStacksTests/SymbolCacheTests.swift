import Foundation
import Testing
@testable import StrictrunStacks

/// The on-disk symbol index cache: what is stored reads back exactly; a changed file, a
/// truncated or foreign cache file is never used.
@Suite("symbol index cache")
struct SymbolCacheTests {
    static func sampleIndex(count: Int) -> SymbolIndex {
        var names: [UInt8] = []
        var symbols: [SymbolIndex.Symbol] = []
        for i in 0..<count {
            let name = Array("function_\(i)".utf8)
            symbols.append(SymbolIndex.Symbol(start: UInt64(0x1000 + i * 32), end: UInt64(0x1000 + i * 32 + (i % 3 == 0 ? 32 : 16)),
                                              nameStart: UInt32(names.count), nameLength: UInt16(name.count),
                                              isSizedFunction: i % 2 == 0))
            names += name
        }
        return SymbolIndex(symbols: symbols, names: names)
    }

    /// A program's own small modules (curl: 138 symbols, libcurl: 585) are on the first stack of
    /// every run: their indexes are kept too (building one cost more than loading it).
    @Test("a small index is kept and read back like a large one")
    func smallIndexKept() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("strictrun-symbols-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cache = SymbolIndexCache(directory: directory)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("strictrun-cache-\(UUID().uuidString)").path
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let key = ImageKey(path: file, stat: SystemCalls.fileStat(file))
        for count in [1, 138] {
            cache.store(Self.sampleIndex(count: count), for: key)
            let loaded = try #require(cache.load(key), "\(count) symbols")
            #expect(loaded.allSymbols().count == count)
        }
    }

    @Test("store then load gives the same symbols; another file identity or a damaged file gives nothing")
    func roundTrip() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("strictrun-symbols-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cache = SymbolIndexCache(directory: directory)
        let lineCache = SourceLineCache(symbols: cache)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("strictrun-cache-\(UUID().uuidString)").path
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let key = ImageKey(path: file, stat: SystemCalls.fileStat(file))
        let index = Self.sampleIndex(count: 5000)
        cache.store(index, for: key)
        let cachePath = try #require(cache.path(for: key))
        defer { try? FileManager.default.removeItem(atPath: cachePath) }
        let loaded = try #require(cache.load(key))
        #expect(loaded.allSymbols().count == 5000)
        #expect(loaded.allSymbols().elementsEqual(index.allSymbols()) { $0.start == $1.start && $0.end == $1.end && $0.name == $1.name })
        #expect(loaded.lookup(0x1000 + 40 * 32 + 4)?.index == 40)

        // The file changes (size, mtime): its old index is not used.
        try Data("changed".utf8).write(to: URL(fileURLWithPath: file))
        let changed = ImageKey(path: file, stat: SystemCalls.fileStat(file))
        #expect(cache.load(changed) == nil)

        // A truncated cache file is ignored.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: cachePath))
        try bytes.prefix(bytes.count - 7).write(to: URL(fileURLWithPath: cachePath))
        #expect(cache.load(key) == nil)
        // So is one with names out of range.
        var damaged = [UInt8](bytes)
        let firstRecord = SymbolIndexCache.magic.count + 16
        damaged[firstRecord + 16] = 0xff
        damaged[firstRecord + 17] = 0xff
        damaged[firstRecord + 18] = 0xff
        try Data(damaged).write(to: URL(fileURLWithPath: cachePath))
        #expect(cache.load(key) == nil)
        // Source lines: appended as looked up, read back by the next run; a lookup that found
        // nothing is remembered as nothing.
        let linesPath = try #require(lineCache.path(for: key))
        defer { try? FileManager.default.removeItem(atPath: linesPath) }
        lineCache.append(key, address: 0x1234, line: SourceLine(file: "/src/a.c", line: 42))
        lineCache.append(key, address: 0x5678, line: nil)
        let lines = lineCache.load(key)
        #expect(lines.count == 2)
        #expect(lines[0x1234] == .some(SourceLine(file: "/src/a.c", line: 42)))
        #expect(lines[0x5678] == .some(nil))
        #expect(lineCache.load(changed).isEmpty)
    }

    @Test("the cache directory comes from the environment the executable passes, not the process's")
    func directory() {
        #expect(SymbolCacheDirectory.resolve(environment: ["STRICTRUN_CACHE_DIR": "/c", "HOME": "/h"]) == "/c")
        #expect(SymbolCacheDirectory.resolve(environment: ["STRICTRUN_CACHE_DIR": "off", "HOME": "/h"]) == nil)
        #expect(SymbolCacheDirectory.resolve(environment: ["STRICTRUN_CACHE_DIR": ""]) == nil)
        #expect(SymbolCacheDirectory.resolve(environment: ["XDG_CACHE_HOME": "/x", "HOME": "/h"]) == "/x/strictrun/symbols")
        #expect(SymbolCacheDirectory.resolve(environment: ["HOME": "/h"]) == "/h/.cache/strictrun/symbols")
        #expect(SymbolCacheDirectory.resolve(environment: [:]) == nil)
        #expect(SymbolCacheDirectory.filters(environment: ["STRICTRUN_CACHE_DIR": "/c", "HOME": "/h"]) == "/c/filters")
        #expect(SymbolCacheDirectory.filters(environment: ["STRICTRUN_CACHE_DIR": "off", "HOME": "/h"]) == nil)
        #expect(SymbolCacheDirectory.filters(environment: ["XDG_CACHE_HOME": "/x", "HOME": "/h"]) == "/x/strictrun/filters")
        #expect(SymbolCacheDirectory.filters(environment: ["HOME": "/h"]) == "/h/.cache/strictrun/filters")
        #expect(SymbolIndexCache(directory: nil).path(for: ImageKey(path: "/bin/sh", stat: SystemCalls.fileStat("/bin/sh"))) == nil)
    }
}
