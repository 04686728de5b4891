import StrictrunSystem

// /tmp/perf-PID.map: names for JIT code, as written by `node --perf-basic-prof` (and other
// JITs speaking perf's convention). One entry per line: `START SIZE NAME`, START and SIZE in
// hex (with or without 0x). The file only grows; it is read incrementally.

/// The perf map of one process. The file is written by the traced program: hostile input.
/// Bad lines are skipped, names are capped, and arithmetic never traps.
struct PerfMap {
    struct Entry {
        var start: UInt64
        var end: UInt64
        var name: String
        /// Line order: where entries overlap (code moved or freed and reused), the later wins.
        var sequence: Int
    }

    /// Longest line accepted; longer ones are skipped.
    static let maxLineLength = 4096
    /// Most bytes read per refresh.
    static let maxReadBytes = 64 << 20

    let path: String
    private(set) var entries: [Entry] = []
    /// Bytes consumed so far (always at a line boundary).
    private(set) var consumed: UInt64 = 0
    private var nextSequence = 0
    /// Largest entry size seen: bounds the backward scan of a lookup.
    private var longest: UInt64 = 0

    init(pid: Int32) {
        self.path = "/tmp/perf-\(pid).map"
    }

    init(path: String) {
        self.path = path
    }

    /// Read what was appended since the last refresh. Returns how many entries were added
    /// (0 when the file does not exist or did not grow).
    @discardableResult
    mutating func refresh() -> Int {
        guard let bytes = try? SystemCalls.readFile(path, from: consumed, limit: PerfMap.maxReadBytes),
              !bytes.isEmpty else { return 0 }
        var added: [Entry] = []
        var lineStart = 0
        var lastComplete = 0
        while lineStart < bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            guard lineEnd < bytes.count else { break }  // a partial last line: wait for the rest
            if lineEnd - lineStart <= PerfMap.maxLineLength,
               var entry = PerfMap.parseLine(bytes[lineStart..<lineEnd]) {
                entry.sequence = nextSequence
                nextSequence += 1
                added.append(entry)
            }
            lineStart = lineEnd + 1
            lastComplete = lineStart
        }
        consumed &+= UInt64(lastComplete)
        guard !added.isEmpty else { return 0 }
        for entry in added { longest = max(longest, entry.end &- entry.start) }
        entries.append(contentsOf: added)
        entries.sort { $0.start != $1.start ? $0.start < $1.start : $0.sequence < $1.sequence }
        return added.count
    }

    /// The newest entry covering `address`.
    func lookup(_ address: UInt64) -> Entry? {
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].start <= address { low = mid + 1 } else { high = mid }
        }
        var best: Entry?
        var index = low - 1
        var scanned = 0
        // Walk back over entries that start at or below `address` and could still cover it.
        while index >= 0 && scanned < 256 {
            let entry = entries[index]
            // Entries further back start even lower: none of them can reach `address`.
            if address - entry.start >= longest { break }
            if address < entry.end, best.map({ entry.sequence > $0.sequence }) ?? true {
                best = entry
            }
            index -= 1
            scanned += 1
        }
        return best
    }

    static func parseLine(_ line: ArraySlice<UInt8>) -> Entry? {
        var cursor = line.startIndex
        let end = line.endIndex
        func field() -> UInt64? {
            while cursor < end && line[cursor] == UInt8(ascii: " ") { cursor += 1 }
            if end - cursor >= 2 && line[cursor] == UInt8(ascii: "0")
                && (line[cursor + 1] == UInt8(ascii: "x") || line[cursor + 1] == UInt8(ascii: "X")) {
                cursor += 2
            }
            var value: UInt64 = 0
            var digits = 0
            while cursor < end, line[cursor] != UInt8(ascii: " ") {
                guard digits < 16, let d = hexDigit(line[cursor]) else { return nil }
                value = value << 4 | UInt64(d)
                digits += 1
                cursor += 1
            }
            return digits > 0 ? value : nil
        }
        guard let start = field(), let size = field(), size > 0 else { return nil }
        let (stop, overflow) = start.addingReportingOverflow(size)
        guard !overflow else { return nil }
        while cursor < end && line[cursor] == UInt8(ascii: " ") { cursor += 1 }
        var nameEnd = end
        while nameEnd > cursor && (line[nameEnd - 1] == UInt8(ascii: "\r") || line[nameEnd - 1] == UInt8(ascii: " ")) {
            nameEnd -= 1
        }
        guard nameEnd > cursor else { return nil }
        let name = String(decoding: line[cursor..<nameEnd], as: UTF8.self)
        return Entry(start: start, end: stop, name: name, sequence: 0)
    }
}
