import StrictrunPolicy
import StrictrunSystem
import StrictrunTrace

/// The profile's `answers`: which blocked calls get another answer than the profile's, by call
/// site. Pure apart from the stack it asks the recorder for, which is the stack the call's event
/// takes anyway (one unwind per stop, never a second).
///
/// Only a call the profile blocks (deny, noop, kill) at a seccomp stop is looked at, and only
/// when an entry could cover it by syscall and rule; the site is computed only then. Fails
/// closed: when the site cannot be computed (stacks off, the unwind found no frames) or the
/// decision cannot be changed safely, the call keeps the profile's answer and its event says why.
struct AnswerBook {
    let answers: [SiteAnswer]
    /// Whether the run takes stacks (without them no site can be computed).
    let stacksEnabled: Bool

    init(_ answers: [SiteAnswer], stacksEnabled: Bool = true) {
        self.answers = answers
        self.stacksEnabled = stacksEnabled
    }

    var isEmpty: Bool { answers.isEmpty }

    /// What happened to one decision.
    enum Outcome {
        /// No entry could cover the call (no unwind was made for the answers).
        case untouched
        /// The decision to carry out instead, its events carrying the stack already taken.
        case answered(Decision)
    }

    /// The entries that could cover a call of `rule` to `syscall` whatever its site, last first.
    func candidates(syscall: String, rule: CompiledRule) -> [SiteAnswer] {
        answers.reversed().filter { $0.covers(site: $0.site, syscall: syscall, category: rule.category, rule: rule.name) }
    }

    /// `decision` under the answers. `capture` takes the stack of the stopped thread for the
    /// decision's first event (the recorder keeps it for that event).
    func apply(_ decision: Decision, at stop: SyscallStop,
               capture: (EventDraft) -> CapturedStack) -> Outcome {
        guard !answers.isEmpty, Self.blocks(decision.verdict), let index = decision.events.firstIndex(where: {
            $0.rule.action.blocks
        }) else { return .untouched }
        var event = decision.events[index]
        // What guards strictrun itself (its trace, its process, its filter, its fail-closed
        // answers) is not a constraint of the target: no answer lifts it.
        guard !Self.protectsSupervisor(event.rule) else { return .untouched }
        let candidates = candidates(syscall: event.syscall, rule: event.rule)
        guard !candidates.isEmpty else { return .untouched }
        var chosen: SiteAnswer?
        var unavailable: String?
        if candidates.contains(where: \.needsSite) {
            let stack = event.withStack && stacksEnabled ? capture(event) : .none
            event.captured = stack
            if let site = stack.site {
                chosen = candidates.first { $0.covers(site: site, syscall: event.syscall, category: event.rule.category,
                                                      rule: event.rule.name) }
            } else {
                // Fail closed: without a site no site answer applies; a rule-wide one still may.
                chosen = candidates.first { !$0.needsSite }
                if chosen == nil {
                    unavailable = stacksEnabled ? "the call site could not be computed (no frames)"
                                                : "the call site could not be computed (stacks are off)"
                }
            }
        } else {
            chosen = candidates.first
        }
        var out = decision
        guard let chosen, let action = chosen.action.action else {
            if let unavailable { event.extra.append(("answer_unavailable", .string(unavailable))) }
            out.events[index] = event
            return .answered(out)
        }
        guard decision.verdict.atExit == nil else {
            event.extra.append(("answer_unavailable", .string("this call is decided again at its exit: the profile's answer is kept")))
            out.events[index] = event
            return .answered(out)
        }
        event.extra.append(("answer", .string(chosen.action.description)))
        event.extra.append(("profile_answer", .string(event.rule.action.description)))
        event.rule.action = action
        event.rule.auditedFrom = nil
        out.events[index] = event
        out.verdict = .carrying(action)
        return .answered(out)
    }

    /// The rules no answer applies to: strictrun's own fail-closed answers (`supervisor/*`) and the
    /// `escape` rules (ways around the tracer, attacks on strictrun and its trace).
    static func protectsSupervisor(_ rule: CompiledRule) -> Bool {
        rule.category == Category.supervisor.name || rule.category == Category.escape.name
    }

    /// Whether a verdict blocks the call (the only verdicts an answer replaces).
    static func blocks(_ verdict: Verdict) -> Bool {
        switch verdict.action {
        case .deny, .skip, .kill: true
        case .allow, .route: false
        }
    }
}
