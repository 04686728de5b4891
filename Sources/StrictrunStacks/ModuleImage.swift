// What the unwinder keeps about one ELF file for its whole life: the PT_LOAD layout (to turn
// a file offset into an ELF address), the symbol index, and memoized DWARF line lookups.
import CElfutils

/// A source position from DWARF line tables.
struct SourceLine: Hashable, Sendable {
    var file: String
    var line: Int
}

/// Which file an image was read from: path plus device, inode, size and mtime, so a file
/// replaced on disk is read afresh.
struct ImageKey: Hashable, Sendable {
    var path: String
    var stat: FileStat?
}

/// One ELF file, shared by every process (and thread) that maps it.
final class ModuleImage {
    struct Load {
        var fileOffset: UInt64
        var fileSize: UInt64
        var address: UInt64
    }

    /// Memoized line lookups beyond this many are dropped and re-learned.
    static let maxMemoizedLines = 200_000

    let key: ImageKey
    let loads: [Load]
    let symbols: SymbolIndex?
    /// Where looked-up source lines are kept between runs.
    private let lineCache: SourceLineCache
    private var lines: [UInt64: SourceLine?] = [:]

    /// Read the layout of `module`'s ELF (`dwfl_module_getelf`, `gelf_getphdr`) and build its
    /// symbol index.
    init(key: ImageKey, module: OpaquePointer, cache: SymbolIndexCache, stats: inout UnwinderStats) {
        self.key = key
        lineCache = SourceLineCache(symbols: cache)
        var loads: [Load] = []
        var bias: GElf_Addr = 0
        if let elf = dwfl_module_getelf(module, &bias) {
            var count = 0
            if elf_getphdrnum(elf, &count) == 0 {
                for i in 0..<min(count, 4096) {
                    var header = GElf_Phdr()
                    guard gelf_getphdr(elf, Int32(i), &header) != nil, header.p_type == UInt32(PT_LOAD) else { continue }
                    loads.append(Load(fileOffset: header.p_offset, fileSize: header.p_filesz, address: header.p_vaddr))
                }
            }
        }
        self.loads = loads
        let started = ContinuousClock.now
        if let cached = cache.load(key) {
            symbols = cached
            stats.symbolIndexesLoaded += 1
        } else {
            symbols = SymbolIndex.build(module: module)
            if let symbols {
                stats.symbolIndexBuilds += 1
                cache.store(symbols, for: key)
            }
        }
        lines = lineCache.load(key)
        if let symbols {
            stats.symbolsIndexed += symbols.count
            stats.symbolIndexNanoseconds += (ContinuousClock.now - started).nanoseconds
        }
        stats.modulesLoaded += 1
    }

    /// The ELF address (p_vaddr space) of a file offset, through the PT_LOAD that holds it.
    func address(forFileOffset offset: UInt64) -> UInt64? {
        for load in loads where offset >= load.fileOffset && offset - load.fileOffset < max(load.fileSize, 1) {
            return load.address &+ (offset - load.fileOffset)
        }
        return nil
    }

    /// The source line of ELF address `address` (`dwfl_module_getsrc` + `dwfl_lineinfo`),
    /// where `module` is this file as loaded with load bias `bias` in some process.
    func sourceLine(at address: UInt64, module: OpaquePointer, bias: UInt64) -> SourceLine? {
        if let known = lines[address] { return known }
        var result: SourceLine?
        if let line = dwfl_module_getsrc(module, address &+ bias) {
            var number: Int32 = 0
            if let file = dwfl_lineinfo(line, nil, &number, nil, nil, nil), number > 0 {
                result = SourceLine(file: String(cString: file), line: Int(number))
            }
        }
        if lines.count >= ModuleImage.maxMemoizedLines { lines.removeAll(keepingCapacity: true) }
        lines[address] = result
        lineCache.append(key, address: address, line: result)
        return result
    }
}

extension Duration {
    /// The duration in whole nanoseconds (negative durations count as zero).
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000)
    }
}
