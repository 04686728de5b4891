// Symbol indexes kept on disk between runs. Building node's index (~107,000 symbols) costs
// ~30 ms, and every `strictrun run` is a new process — a conformance run pays it once per
// test. The index of a file is stored under a name derived from the file's path, device,
// inode, size and mtime, so a replaced file is never answered from a stale index.
#if canImport(Glibc)
import Glibc
#endif
import StrictrunSystem

/// The on-disk cache of `SymbolIndex`es in one directory (`StackOptions.symbolCacheDirectory`;
/// the executable picks it with `SymbolCacheDirectory.resolve(environment:)`).
///
/// A file is `magic, symbol count, name bytes, symbols (24 bytes each), names`; anything that
/// does not read back exactly (truncated, another version, out-of-range names) is ignored
/// and rebuilt. Files are written to a temporary name and renamed, so concurrent runs never
/// see half a file.
struct SymbolIndexCache: Sendable {
    static let magic: [UInt8] = Array("strictrun-symbols-1\n".utf8)
    private static let recordSize = 24

    /// The directory the files are in; nil: no cache (nothing read, nothing written).
    let directory: String?

    init(directory: String?) { self.directory = directory }

    /// The cache file for `key`; nil when the file cannot be identified (no stat) or there is
    /// no cache directory.
    func path(for key: ImageKey) -> String? {
        guard let directory, let stat = key.stat else { return nil }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in Array(key.path.utf8) + [0] {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        for value in [stat.device, stat.inode, UInt64(bitPattern: stat.size), UInt64(bitPattern: stat.mtimeSeconds),
                      UInt64(bitPattern: stat.mtimeNanoseconds)] {
            hash = (hash ^ value) &* 0x100_0000_01b3
        }
        let name = key.path.split(separator: "/").last.map(String.init) ?? "image"
        return "\(directory)/\(name.prefix(64))-\(String(hash, radix: 16)).idx"
    }

    func load(_ key: ImageKey) -> SymbolIndex? {
        guard let path = path(for: key), let bytes = readWhole(path), bytes.count >= Self.magic.count + 16,
              bytes[0..<Self.magic.count].elementsEqual(Self.magic) else { return nil }
        return bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> SymbolIndex? in
            let header = Self.magic.count
            let count = Int(truncatingIfNeeded: raw.loadUnaligned(fromByteOffset: header, as: UInt64.self))
            let nameBytes = Int(truncatingIfNeeded: raw.loadUnaligned(fromByteOffset: header + 8, as: UInt64.self))
            guard count >= 0, count <= SymbolIndex.maxSymbols, nameBytes >= 0, nameBytes < Int(UInt32.max),
                  raw.count == header + 16 + count * Self.recordSize + nameBytes else { return nil }
            var symbols: [SymbolIndex.Symbol] = []
            symbols.reserveCapacity(count)
            var previous: UInt64 = 0
            var offset = header + 16
            for _ in 0..<count {
                let start = raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                let end = raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)
                let packed = raw.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self)
                offset += Self.recordSize
                let nameStart = UInt32(truncatingIfNeeded: packed)
                let nameLength = UInt16(truncatingIfNeeded: packed >> 32)
                guard start >= previous, Int(nameStart) + Int(nameLength) <= nameBytes else { return nil }
                previous = start
                symbols.append(SymbolIndex.Symbol(start: start, end: end, nameStart: nameStart,
                                                  nameLength: nameLength, isSizedFunction: packed >> 48 & 1 == 1))
            }
            return SymbolIndex(symbols: symbols, names: Array(UnsafeRawBufferPointer(rebasing: raw[offset...])))
        }
    }

    /// The whole file in one buffer of its size (the index of node is ~8 MB).
    private func readWhole(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size > 0, info.st_size < 512 << 20 else { return nil }
        let size = Int(info.st_size)
        var complete = false
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var done = 0
            while done < size {
                let n = pread(fd, buffer.baseAddress! + done, size - done, off_t(done))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                done += n
            }
            complete = done == size
            initialized = complete ? size : 0
        }
        return complete ? bytes : nil
    }

    /// Best effort: a cache that cannot be written only costs the next run the build.
    func store(_ index: SymbolIndex, for key: ImageKey) {
        // Every index, however small: building one from a small module (libdw loads its ELF symbol
        // table) cost curl's first stack ~0.3 ms a module, loading it ~0.05 ms.
        guard let path = path(for: key), let directory else { return }
        var bytes = Self.magic
        bytes.reserveCapacity(Self.magic.count + 16 + index.count * Self.recordSize + index.names.count)
        func append(_ value: UInt64) {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
        append(UInt64(index.count))
        append(UInt64(index.names.count))
        for symbol in index.symbols {
            append(symbol.start)
            append(symbol.end)
            append(UInt64(symbol.nameStart) | UInt64(symbol.nameLength) << 32 | (symbol.isSizedFunction ? 1 << 48 : 0))
        }
        bytes.append(contentsOf: index.names)
        Self.makeDirectories(directory)
        let temporary = "\(path).\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let code = FileContents.write(bytes, to: fd)
        close(fd)
        if code == 0 && rename(temporary, path) == 0 { return }
        unlink(temporary)
    }

    static func makeDirectories(_ path: String) {
        var partial = ""
        for component in path.split(separator: "/") {
            partial += "/" + component
            mkdir(partial, 0o700)
        }
    }
}

/// Source lines of code addresses, kept on disk next to the symbol indexes: the first DWARF
/// line lookup in a module opens and decompresses its debug information (~20 ms for libc's
/// separate debug file), a cost worth paying once per file, not once per run. One text line per
/// address (`address-hex TAB line TAB file`; line 0 and no file when DWARF has none), appended
/// with O_APPEND as lookups happen, so concurrent runs add lines and never tear one.
struct SourceLineCache: Sendable {
    /// A file that grew past this is no longer appended to.
    static let maximumBytes = 4 << 20
    /// The symbol cache whose directory holds the line files.
    let symbols: SymbolIndexCache

    init(symbols: SymbolIndexCache) { self.symbols = symbols }

    func path(for key: ImageKey) -> String? {
        symbols.path(for: key).map { String($0.dropLast(".idx".count)) + ".lines" }
    }

    func load(_ key: ImageKey) -> [UInt64: SourceLine?] {
        guard let path = path(for: key), let bytes = try? SystemCalls.readFile(path, limit: Self.maximumBytes + 65536)
        else { return [:] }
        var out: [UInt64: SourceLine?] = [:]
        for row in bytes.split(separator: UInt8(ascii: "\n")) {
            let fields = row.split(separator: UInt8(ascii: "\t"), maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3,
                  let address = UInt64(String(decoding: fields[0], as: UTF8.self), radix: 16),
                  let line = Int(String(decoding: fields[1], as: UTF8.self)) else { continue }
            out[address] = line > 0 && !fields[2].isEmpty
                ? SourceLine(file: String(decoding: fields[2], as: UTF8.self), line: line) : nil
        }
        return out
    }

    func append(_ key: ImageKey, address: UInt64, line: SourceLine?) {
        guard let path = path(for: key), let directory = symbols.directory else { return }
        let file = line?.file ?? ""
        guard !file.utf8.contains(UInt8(ascii: "\n")), !file.utf8.contains(UInt8(ascii: "\t")) else { return }
        let text = Array("\(String(address, radix: 16))\t\(line?.line ?? 0)\t\(file)\n".utf8)
        SymbolIndexCache.makeDirectories(directory)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size < Self.maximumBytes else { return }
        _ = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}

/// Where strictrun's caches live, decided from an environment passed as a value (the
/// executable passes its own; nothing in the library reads the process environment):
/// `STRICTRUN_CACHE_DIR` (empty or `off`: no cache), else `$XDG_CACHE_HOME/strictrun`, else
/// `$HOME/.cache/strictrun`. Symbol indexes are in its `symbols/` (directly in
/// `STRICTRUN_CACHE_DIR` when that is set), compiled filters in its `filters/`.
public enum SymbolCacheDirectory {
    /// The symbol cache's directory.
    public static func resolve(environment: [String: String]) -> String? {
        root(environment).map { $0.configured ? $0.path : $0.path + "/symbols" }
    }

    /// The filter cache's directory.
    public static func filters(environment: [String: String]) -> String? {
        root(environment).map { $0.path + "/filters" }
    }

    private static func root(_ environment: [String: String]) -> (path: String, configured: Bool)? {
        if let configured = environment["STRICTRUN_CACHE_DIR"] {
            return configured.isEmpty || configured == "off" ? nil : (configured, true)
        }
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") { return (xdg + "/strictrun", false) }
        if let home = environment["HOME"], home.hasPrefix("/") { return (home + "/.cache/strictrun", false) }
        return nil
    }
}
