/// Byte strings in a trace (paths, argv): a plain JSON string when the bytes are valid UTF-8;
/// otherwise the display form (U+FFFD for each invalid sequence) under `key` and the exact
/// bytes as lowercase hex under `key_hex`. A line stays valid JSON and loses nothing.
public enum TraceBytes {
    /// The suffix of the member that holds the exact bytes.
    public static let hexSuffix = "_hex"

    /// The members for `bytes` under `key`.
    public static func members(_ key: String, _ bytes: [UInt8]) -> [(String, JSONValue)] {
        let text = String(decoding: bytes, as: UTF8.self)
        return isUTF8(bytes) ? [(key, .string(text))] : [(key, .string(text)), (key + hexSuffix, .string(hex(bytes)))]
    }

    /// Whether `bytes` are valid UTF-8 (a display form would keep them exactly).
    public static func isUTF8(_ bytes: [UInt8]) -> Bool { String(validating: bytes, as: UTF8.self) != nil }

    private static let digits = Array("0123456789abcdef".utf8)

    /// Lowercase hex, two digits per byte.
    public static func hex(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of a hex string; nil when it is not one.
    public static func bytes(hex: String) -> [UInt8]? {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        for i in stride(from: 0, to: chars.count, by: 2) {
            guard let high = nibble(chars[i]), let low = nibble(chars[i + 1]) else { return nil }
            out.append(high << 4 | low)
        }
        return out
    }

    /// The exact bytes of member `key` of `object`: from `key_hex` when present, else its text.
    public static func bytes(_ key: String, in object: JSONValue) -> [UInt8]? {
        if let hex = object[key + hexSuffix]?.stringValue { return bytes(hex: hex) }
        return object[key]?.stringValue.map { Array($0.utf8) }
    }
}
