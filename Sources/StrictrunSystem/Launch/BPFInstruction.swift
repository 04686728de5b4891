/// One classic BPF instruction (`struct sock_filter`).
public struct BPFInstruction: Sendable, Hashable {
    public var code: UInt16
    public var jt: UInt8
    public var jf: UInt8
    public var k: UInt32

    public init(code: UInt16, jt: UInt8, jf: UInt8, k: UInt32) {
        self.code = code
        self.jt = jt
        self.jf = jf
        self.k = k
    }
}

extension BPFInstruction {
    /// Instructions from the bytes of `struct sock_filter` entries (little-endian, as
    /// `seccomp_export_bpf` writes them); a trailing partial entry is dropped.
    public static func decode(_ bytes: [UInt8]) -> [BPFInstruction] {
        stride(from: 0, to: bytes.count - bytes.count % 8, by: 8).map { (i: Int) -> BPFInstruction in
            let code = UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8
            let low = UInt32(bytes[i + 4]) | UInt32(bytes[i + 5]) << 8
            let high = UInt32(bytes[i + 6]) << 16 | UInt32(bytes[i + 7]) << 24
            return BPFInstruction(code: code, jt: bytes[i + 2], jf: bytes[i + 3], k: low | high)
        }
    }

    /// The bytes of `struct sock_filter` entries (little-endian), as `decode` reads them.
    public static func encode(_ program: [BPFInstruction]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(program.count * 8)
        for instruction in program {
            bytes += [UInt8(instruction.code & 0xff), UInt8(instruction.code >> 8), instruction.jt, instruction.jf,
                      UInt8(instruction.k & 0xff), UInt8(instruction.k >> 8 & 0xff),
                      UInt8(instruction.k >> 16 & 0xff), UInt8(instruction.k >> 24)]
        }
        return bytes
    }
}
