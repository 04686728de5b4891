// A sorted index of one ELF file's function symbols, built once per file and searched by
// binary search. libdw's own dwfl_module_addrinfo scans the whole symbol table per lookup
// (~107,000 symbols in /usr/bin/node: 42–71 ms a capture).
import CElfutils

/// The function symbols of one ELF image, sorted by address. Addresses are in the file's own
/// address space (st_value; the load bias removed), so one index serves every process that
/// maps the file, whatever its ASLR base.
final class SymbolIndex {
    struct Symbol {
        var start: UInt64
        /// One past the last byte: `start + st_size`, or for a symbol without a size, the next
        /// symbol's start (capped at the end of its section).
        var end: UInt64
        var nameStart: UInt32
        var nameLength: UInt16
        /// STT_FUNC / STT_GNU_IFUNC with a non-zero st_size: trusted to cover [start, end).
        var isSizedFunction: Bool
    }

    /// A symbol covering an address.
    struct Match: Equatable {
        var index: Int
        var start: UInt64
        var end: UInt64
    }

    /// How far a lookup walks back over nested or overlapping symbols.
    static let maxBacktrack = 32
    /// Longest symbol name kept (a longer one is cut; the demangler refuses it anyway).
    static let maxNameLength = Int(UInt16.max)
    /// Most symbols indexed per file (node has ~107,000 in all): a crafted ELF file mapped by
    /// the tracee must not make the tracer build an unbounded index.
    static let maxSymbols = 4_000_000

    let symbols: [Symbol]
    let names: [UInt8]
    private var demangled: [Int: String] = [:]

    var count: Int { symbols.count }

    init(symbols: [Symbol], names: [UInt8]) {
        self.symbols = symbols
        self.names = names
    }

    /// The symbol for `address` (file address space): the nearest sized function containing
    /// it, else the nearest preceding symbol whose extent reaches it.
    func lookup(_ address: UInt64) -> Match? {
        var low = 0
        var high = symbols.count
        while low < high {
            let mid = (low + high) / 2
            if symbols[mid].start <= address { low = mid + 1 } else { high = mid }
        }
        let nearest = low - 1
        guard nearest >= 0 else { return nil }
        let first = symbols[nearest]
        if first.isSizedFunction && address < first.end {
            return Match(index: nearest, start: first.start, end: first.end)
        }
        // A sized function that encloses a label or a smaller symbol.
        var index = nearest - 1
        var steps = 0
        while index >= 0 && steps < SymbolIndex.maxBacktrack {
            let symbol = symbols[index]
            if symbol.isSizedFunction && address < symbol.end {
                return Match(index: index, start: symbol.start, end: symbol.end)
            }
            index -= 1
            steps += 1
        }
        if address < first.end {
            return Match(index: nearest, start: first.start, end: first.end)
        }
        return nil
    }

    /// The symbol's name as stored in the ELF file.
    func rawName(_ index: Int) -> String {
        let symbol = symbols[index]
        let start = Int(symbol.nameStart)
        return String(decoding: names[start..<start + Int(symbol.nameLength)], as: UTF8.self)
    }

    /// The symbol's demangled name (memoized), without a symbol-version suffix
    /// (`__libc_start_main@@GLIBC_2.34` → `__libc_start_main`).
    func name(_ index: Int) -> String {
        if let cached = demangled[index] { return cached }
        var raw = rawName(index)
        if let at = raw.firstIndex(of: "@"), at != raw.startIndex { raw = String(raw[..<at]) }
        let readable = Demangler.demangle(raw)
        demangled[index] = readable
        return readable
    }

    /// All symbols, for tests.
    func allSymbols() -> [(start: UInt64, end: UInt64, name: String)] {
        symbols.indices.map { (symbols[$0].start, symbols[$0].end, rawName($0)) }
    }
}

extension SymbolIndex {
    private struct SectionKey: Hashable {
        var elf: UInt
        var index: UInt32
    }

    private struct SectionInfo {
        var executable: Bool
        /// End of the section in the file's address space.
        var end: UInt64
    }

    private struct Candidate {
        var start: UInt64
        var size: UInt64
        var sectionEnd: UInt64
        var rank: UInt8
        var isFunction: Bool
        var nameStart: UInt32
        var nameLength: UInt16
    }

    /// Enumerate `module`'s symbol table (`dwfl_module_getsymtab`, then
    /// `dwfl_module_getsym_info` per symbol; libdw merges .symtab, or .dynsym plus the
    /// MiniDebugInfo table) and keep the code symbols: STT_FUNC, STT_GNU_IFUNC and STT_NOTYPE
    /// defined in an SHF_EXECINSTR section.
    static func build(module: OpaquePointer) -> SymbolIndex? {
        var mainBias: GElf_Addr = 0
        guard dwfl_module_getelf(module, &mainBias) != nil else { return nil }
        let total = dwfl_module_getsymtab(module)
        guard total >= 0 else { return nil }

        var names: [UInt8] = []
        var candidates: [Candidate] = []
        candidates.reserveCapacity(Int(total))
        var sections: [SectionKey: SectionInfo] = [:]

        var ndx: Int32 = 1  // entry 0 is the null symbol
        while ndx < total {
            defer { ndx += 1 }
            var sym = GElf_Sym()
            var address: GElf_Addr = 0
            var shndx: GElf_Word = 0
            var elf: OpaquePointer?
            var bias: Dwarf_Addr = 0
            guard let cname = dwfl_module_getsym_info(module, ndx, &sym, &address, &shndx, &elf, &bias),
                  cname.pointee != 0 else { continue }
            let type = Int32(sym.st_info & 0xf)
            let binding = Int32(sym.st_info >> 4)
            guard type == STT_FUNC || type == STT_GNU_IFUNC || type == STT_NOTYPE else { continue }
            guard shndx != GElf_Word(SHN_UNDEF), shndx < GElf_Word(SHN_LORESERVE), let elf else { continue }

            let key = SectionKey(elf: UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(elf))), index: shndx)
            let section: SectionInfo
            if let known = sections[key] {
                section = known
            } else {
                var header = GElf_Shdr()
                if let scn = elf_getscn(elf, Int(shndx)), gelf_getshdr(scn, &header) != nil {
                    let end = (header.sh_addr &+ header.sh_size &+ bias) &- mainBias
                    section = SectionInfo(executable: header.sh_flags & UInt64(SHF_EXECINSTR) != 0, end: end)
                } else {
                    section = SectionInfo(executable: false, end: 0)
                }
                sections[key] = section
            }
            guard section.executable else { continue }

            var length = 0
            while length < maxNameLength && cname[length] != 0 { length += 1 }
            // Assembler-local labels (.L*, .annobin*) are noise, not functions.
            if type == STT_NOTYPE && cname.pointee == CChar(UInt8(ascii: ".")) { continue }
            guard names.count + length < Int(UInt32.max), candidates.count < maxSymbols else { break }
            let nameStart = UInt32(names.count)
            cname.withMemoryRebound(to: UInt8.self, capacity: length) {
                names.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
            }

            let isFunction = type == STT_FUNC || type == STT_GNU_IFUNC
            let typeRank: UInt8 = type == STT_FUNC ? 2 : (type == STT_GNU_IFUNC ? 1 : 0)
            let bindRank: UInt8 = binding == STB_GLOBAL ? 2 : (binding == STB_WEAK ? 1 : 0)
            let rank = (sym.st_size > 0 ? 32 : 0) | typeRank << 2 | bindRank
            candidates.append(Candidate(start: address &- mainBias, size: sym.st_size, sectionEnd: section.end,
                                        rank: rank, isFunction: isFunction,
                                        nameStart: nameStart, nameLength: UInt16(length)))
        }

        // By address; at one address the best-ranked first (sized, FUNC, global), the rest dropped.
        candidates.sort { $0.start != $1.start ? $0.start < $1.start : $0.rank > $1.rank }
        var symbols: [Symbol] = []
        symbols.reserveCapacity(candidates.count)
        var i = 0
        while i < candidates.count {
            let c = candidates[i]
            var next = i + 1
            while next < candidates.count && candidates[next].start == c.start { next += 1 }
            let nextStart = next < candidates.count ? candidates[next].start : UInt64.max
            let end: UInt64
            let sized: Bool
            if c.size > 0, case let (sum, overflow) = c.start.addingReportingOverflow(c.size), !overflow {
                end = sum
                sized = c.isFunction
            } else {
                end = max(c.start, min(nextStart, c.sectionEnd))
                sized = false
            }
            symbols.append(Symbol(start: c.start, end: end, nameStart: c.nameStart,
                                  nameLength: c.nameLength, isSizedFunction: sized))
            i = next
        }
        return SymbolIndex(symbols: symbols, names: names)
    }
}
