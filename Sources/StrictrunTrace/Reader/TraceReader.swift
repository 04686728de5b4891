import Foundation

/// Reads a JSON-lines trace, streaming: one line in memory at a time.
public struct TraceReader {
    /// What reading a file found besides the events.
    public struct Problems: Sendable {
        /// Line numbers (1-based) that were not valid JSON objects and were skipped.
        public var malformedLines: [Int] = []
        /// Whether the last line had no newline and did not parse (a writer that crashed).
        public var truncatedLastLine = false
        /// Events (counted from 1, among the lines that parsed) that lacked a member their type requires.
        public var invalidEvents: [Int] = []
        /// Lines whose `seq` does not follow the previous line's (a line lost, removed or forged).
        public var seqBreaks = 0
        /// The first such break, for messages: `seq 7 after seq 4`.
        public var firstSeqBreak: String?
    }

    public enum ReadError: Error, CustomStringConvertible {
        case cannotOpen(String, String)
        case notATrace(String, String)
        public var description: String {
            switch self {
            case .cannotOpen(let path, let why): "\(path): cannot open: \(why)"
            case .notATrace(let path, let why): "\(path): not a strictrun trace: \(why)"
            }
        }
    }

    /// Calls `body` with each event of the trace at `path`, in order.
    /// Throws `notATrace` when the first non-empty line is not a schema-v1 trace line.
    @discardableResult
    public static func forEach(path: String, _ body: (JSONValue) throws -> Void) throws -> Problems {
        guard let file = FileHandle(forReadingAtPath: path) else {
            throw ReadError.cannotOpen(path, String(cString: strerror(errno)))
        }
        defer { try? file.close() }
        var problems = Problems()
        var buffer = Data()
        var lineNumber = 0
        var sawTraceLine = false
        var lastSeq: Int64?
        func consume(line: Data, complete: Bool) throws {
            lineNumber += 1
            guard !line.isEmpty else { return }
            guard let text = String(data: line, encoding: .utf8),
                  let value = try? JSONValue.parse(text), value["v"]?.intValue != nil, value["type"] != nil
            else {
                if !sawTraceLine && complete {
                    throw ReadError.notATrace(path, "line \(lineNumber) is not a trace event")
                }
                if complete { problems.malformedLines.append(lineNumber) } else { problems.truncatedLastLine = true }
                return
            }
            sawTraceLine = true
            if let seq = value["seq"]?.intValue {
                if let previous = lastSeq, seq != previous + 1 {
                    problems.seqBreaks += 1
                    if problems.firstSeqBreak == nil { problems.firstSeqBreak = "seq \(seq) after seq \(previous)" }
                }
                lastSeq = seq
            }
            try body(value)
        }
        while true {
            let chunk = file.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            buffer.append(chunk)
            var start = buffer.startIndex
            while let newline = buffer[start...].firstIndex(of: 0x0A) {
                try consume(line: buffer[start..<newline], complete: true)
                start = buffer.index(after: newline)
            }
            buffer = Data(buffer[start...])
        }
        if !buffer.isEmpty { try consume(line: buffer, complete: false) }
        return problems
    }

    /// Calls `body` with each line of the trace at `path` as its typed event, in order, with the
    /// line's header. A line of a known type that lacks a required member counts as malformed.
    @discardableResult
    public static func forEachEvent(path: String, _ body: (LineHeader, TraceLine) throws -> Void) throws -> Problems {
        var invalid: [Int] = []
        var number = 0
        var problems = try forEach(path: path) { line in
            number += 1
            guard let header = LineHeader(line), let event = try? TraceLine(line) else {
                invalid.append(number)
                return
            }
            try body(header, event)
        }
        if !invalid.isEmpty { problems.invalidEvents = invalid }
        return problems
    }

    /// All events of a trace (for small traces and tests).
    public static func readAll(path: String) throws -> (events: [JSONValue], problems: Problems) {
        var events: [JSONValue] = []
        let problems = try forEach(path: path) { events.append($0) }
        return (events, problems)
    }
}
