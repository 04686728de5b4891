/// `v8::base::OS::SetPermissions(void*, unsigned long)` → `v8::base::OS::SetPermissions`:
/// a demangled C++ name without its parameter list, for summaries and tables (traces keep
/// the whole name).
public func shortSymbolName(_ symbol: String) -> String {
    var depth = 0
    for index in symbol.indices {
        switch symbol[index] {
        case "<": depth += 1
        case ">": depth = max(0, depth - 1)
        case "(" where depth == 0 && index > symbol.startIndex:
            if symbol[..<index].hasSuffix("operator") { continue }
            if symbol[index...].hasPrefix("(anonymous namespace)") { continue }
            return String(symbol[..<index])
        default: break
        }
    }
    return symbol
}
