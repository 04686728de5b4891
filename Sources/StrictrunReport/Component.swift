import Foundation
import StrictrunResults

/// Which code owns a call site: the first frame outside the C library and the dynamic loader
/// (the libc wrapper `__fork` is where every fork ends up, not who asked), named by its module
/// and a namespace prefix.
public enum Component {
    /// Modules whose frames are wrappers, never owners.
    static func isSystemWrapper(_ module: String?) -> Bool {
        guard let module else { return false }
        let name = URL(fileURLWithPath: module).lastPathComponent
        return name.hasPrefix("libc.so") || name.hasPrefix("libc-") || name.hasPrefix("ld-linux")
            || name.hasPrefix("libpthread") || name.hasPrefix("linux-vdso") || name == "[vdso]"
    }

    /// The owning frame of a stack: the first frame not in libc or the loader (the top frame
    /// when every frame is).
    public static func owner(of frames: [Frame]) -> Frame? {
        frames.first { !isSystemWrapper($0.module) } ?? frames.first
    }

    /// `(module basename, prefix)` of a frame: `v8::` for `v8::base::OS::SetPermissions(…)`,
    /// `uv_` for `uv_spawn`, `os_` for `os_fork`, `_Py` … `PyEval_` for CPython's C names.
    public static func name(of frame: Frame?) -> (module: String, prefix: String?) {
        guard let frame else { return ("(no stack)", nil) }
        let module = frame.module.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "?"
        return (module, frame.symbol.flatMap(prefix(of:)))
    }

    /// `module · prefix`, or the module alone.
    public static func label(of frame: Frame?) -> String {
        let (module, prefix) = name(of: frame)
        return prefix.map { "\(module) · \($0)" } ?? module
    }

    /// The namespace of a C++ name (`node::`), or a C name's prefix up to its first `_` (`uv_`).
    static func prefix(of symbol: String) -> String? {
        let name = shortName(symbol)
        // C++: the outermost namespace (`v8::internal::Foo` → `v8::`), templates and
        // `(anonymous namespace)` left aside.
        if let range = name.range(of: "::") {
            var head = String(name[..<range.lowerBound])
            if let space = head.lastIndex(of: " ") { head = String(head[head.index(after: space)...]) }
            if !head.isEmpty && !head.contains("<") && !head.contains("(") { return head + "::" }
        }
        let trimmed = name.drop { $0 == "_" }
        guard let underscore = trimmed.firstIndex(of: "_"), underscore > trimmed.startIndex else { return nil }
        let head = trimmed[..<underscore]
        guard head.count <= 12, head.allSatisfy({ $0.isLetter || $0.isNumber }) else { return nil }
        return String(name.prefix(name.count - trimmed.count)) + head + "_"
    }

    /// `v8::base::OS::SetPermissions(void*, unsigned long)` → `v8::base::OS::SetPermissions`:
    /// a demangled C++ name without its parameter list, for tables and charts.
    public static func shortName(_ symbol: String) -> String { Frame.shortName(symbol) }

    /// A frame in a few words: `uv_spawn`, or `node+0x18b5ecc` without a symbol.
    public static func brief(_ frame: Frame) -> String {
        if let symbol = frame.symbol { return shortName(symbol) }
        let module = frame.module.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "?"
        return "\(module)+\(frame.offset ?? "?")"
    }
}
