// Stable call-site ids: the same code path gets the same id in every run, whatever ASLR did.

/// A stable id for the call site at the top of `frames`: 64-bit FNV-1a over the module
/// basename and symbol of the first `count` frames (`"?"` for a frame without a module or
/// symbol), never over addresses, so the id survives ASLR and rebuilds that keep names.
/// JIT names are normalized (V8's tier marks `*`, `~`, `^`, `+` after `JS:`/`LazyCompile:` are
/// dropped) so that a function keeps its id as it moves between tiers.
///
/// Returns the id as 16 lowercase hex digits and the number of frames it covers.
public func callSite(of frames: [StackFrame], count: Int) -> (id: String, framesUsed: Int) {
    let used = max(0, min(count, frames.count))
    var hash = FNV1a64()
    for frame in frames.prefix(used) {
        hash.add(moduleBasename(frame.module))
        hash.add(0x1f)
        let symbol = frame.symbol.map { frame.module == "[jit]" ? normalizeJITName($0) : $0 } ?? "?"
        hash.add(symbol)
        hash.add(0x1e)
    }
    return (hash.hex, used)
}

func moduleBasename(_ module: String?) -> String {
    guard let module, !module.isEmpty else { return "?" }
    if module.hasPrefix("[") { return module }
    guard let slash = module.lastIndex(of: "/") else { return module }
    let base = module[module.index(after: slash)...]
    return base.isEmpty ? module : String(base)
}

/// `JS:*fib /app/x.js:3` → `JS:fib /app/x.js:3`; likewise for `LazyCompile:`, `Function:`.
func normalizeJITName(_ name: String) -> String {
    for prefix in ["JS:", "LazyCompile:", "Function:", "InterpretedFunction:"] where name.hasPrefix(prefix) {
        var rest = name.dropFirst(prefix.count)
        while let first = rest.first, "*~^+".contains(first) { rest = rest.dropFirst() }
        return "JS:" + rest
    }
    return name
}

/// FNV-1a, 64-bit.
struct FNV1a64 {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ byte: UInt8) {
        value ^= UInt64(byte)
        value = value &* 0x0000_0100_0000_01b3
    }

    mutating func add(_ text: String) {
        for byte in text.utf8 { add(byte) }
    }

    var hex: String {
        (0..<8).map { hexByte(UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64($0)))) }.joined()
    }
}
