import Foundation
import Synchronization
import StrictrunResults

/// Progress of a run on stderr: on a terminal, one live line (phase, done/total, pass/fail,
/// rate, ETA) redrawn in place; otherwise (CI logs) a plain line every `interval` seconds and
/// one line per run that did not pass. `verbose` adds a line per finished run; `quiet` prints
/// nothing.
public final class ProgressReporter: Sendable {
    /// How the reporter writes.
    public enum Style: Sendable {
        case live
        case plain(interval: Double)
        case quiet
    }

    struct State {
        var phase = ""
        var total = 0
        var done = 0
        var passed = 0
        var failed = 0
        var running: [String: ContinuousClock.Instant] = [:]
        var started = ContinuousClock.now
        var lastPlain = ContinuousClock.now
        var lineShown = false
        var active = false
    }

    private let style: Style
    private let verbose: Bool
    private let state = Mutex(State())
    private let ticking = Mutex(false)

    public init(style: Style, verbose: Bool = false) {
        self.style = style
        self.verbose = verbose
    }

    /// `.live` on a terminal, `.plain(every 10 s)` otherwise.
    public static func automatic(quiet: Bool, verbose: Bool) -> ProgressReporter {
        if quiet { return ProgressReporter(style: .quiet) }
        return ProgressReporter(style: ProcessControl.stderrIsTerminal ? .live : .plain(interval: 10), verbose: verbose)
    }

    /// A pass over `total` runs begins.
    func begin(phase: String, total: Int) {
        state.withLock { state in
            state = State()
            state.phase = phase
            state.total = total
            state.active = true
        }
        if case .quiet = style { return }
        if case .plain = style { write("strictrun: conformance: \(phase): \(total) run\(total == 1 ? "" : "s")\n") }
        startTicker()
        redraw(force: true)
    }

    func runStarted(_ test: String) {
        state.withLock { $0.running[test] = .now }
    }

    /// A run finished: count it, and say so when it did not pass (or always, in verbose mode).
    func runFinished(_ record: RunRecord) {
        state.withLock { state in
            state.running[record.test] = nil
            state.done += 1
            if record.outcome.isFailure { state.failed += 1 } else { state.passed += 1 }
        }
        if case .quiet = style { return }
        if verbose || record.outcome.isFailure {
            var line = "\(record.outcome.rawValue.uppercased()) \(record.test) (\(record.mode.rawValue)"
            if record.attempt > 1 { line += ", retry" }
            if let code = record.exitCode, record.outcome == .fail { line += ", exit \(code)" }
            if let signal = record.signal { line += ", \(signal)" }
            line += ", \(String(format: "%.1f", record.seconds)) s)"
            if let first = record.digest?.first, record.outcome.isFailure { line += " — first blocked: \(first.oneLine)" }
            if let message = record.message, record.outcome == .error { line += " — \(message)" }
            clearLine()
            write("strictrun: \(line)\n")
        }
        redraw(force: false)
    }

    /// The pass is over.
    func end() {
        state.withLock { $0.active = false }
        if case .quiet = style { return }
        let line = statusLine()
        clearLine()
        write("strictrun: conformance: \(line)\n")
    }

    /// A free-form note (e.g. "stopping: Ctrl-C").
    public func note(_ message: String) {
        if case .quiet = style { return }
        clearLine()
        write("strictrun: \(message)\n")
    }

    private func statusLine() -> String {
        state.withLock { s in
            let elapsed = Self.seconds(s.started.duration(to: .now))
            let rate = elapsed > 0 ? Double(s.done) / elapsed : 0
            var line = "\(s.phase) \(s.done)/\(s.total) · pass \(s.passed) · fail \(s.failed)"
            if s.active && !s.running.isEmpty {
                line += " · running \(s.running.count)"
                // Name a test that has been running long: where a stalled run is stuck.
                if let (test, since) = s.running.min(by: { $0.value < $1.value }) {
                    let seconds = Self.seconds(since.duration(to: .now))
                    if seconds >= 20 { line += " (\(test): \(Int(seconds)) s)" }
                }
            }
            line += String(format: " · %.1f/s", rate)
            if s.active, rate > 0, s.done < s.total {
                line += " · ETA \(Self.clock(Double(s.total - s.done) / rate))"
            } else {
                line += " · \(Self.clock(elapsed))"
            }
            return line
        }
    }

    private func redraw(force: Bool) {
        switch style {
        case .quiet: return
        case .live:
            let line = statusLine()
            state.withLock { $0.lineShown = true }
            write("\r\u{1B}[K\(line)")
        case .plain(let interval):
            let due = state.withLock { s -> Bool in
                guard s.active, force || Self.seconds(s.lastPlain.duration(to: .now)) >= interval else { return false }
                s.lastPlain = .now
                return true
            }
            if due && !force { write("strictrun: conformance: \(statusLine())\n") }
        }
    }

    private func clearLine() {
        let shown = state.withLock { s -> Bool in
            defer { s.lineShown = false }
            return s.lineShown
        }
        if shown { write("\r\u{1B}[K") }
    }

    /// Redraw once a second (live) or check the interval (plain), so long tests still show time passing.
    private func startTicker() {
        let start = ticking.withLock { running -> Bool in
            defer { running = true }
            return !running
        }
        guard start else { return }
        let thread = Thread { [self] in
            while true {
                Thread.sleep(forTimeInterval: 1)
                if state.withLock({ $0.active }) { redraw(force: false) }
            }
        }
        thread.start()
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func clock(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        return total >= 3600 ? String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
                             : String(format: "%d:%02d", total / 60, total % 60)
    }
}
