import NIOCore
import Synchronization

/// A connection the tracer announced: which app socket (by its local address) meant to go where.
struct Registration: Sendable {
    var destination: Destination
    var id: UInt64
    var registeredAt: NIODeadline
}

/// Where the tracer's registrations meet the broker's accepted connections, whichever comes first.
///
/// Thread-safe: `register` runs on the tracer thread, `claim`/`abandon` on event loops.
final class Registry: Sendable {
    private struct State {
        var registrations: [SocketAddressKey: Registration] = [:]
        var waiters: [SocketAddressKey: EventLoopPromise<Registration>] = [:]
    }

    /// A registration never claimed (the app's connection never reached the broker) is dropped after this long.
    private static let staleAfter = TimeAmount.seconds(120)
    private let state = Mutex(State())

    func register(_ key: SocketAddressKey, _ registration: Registration) {
        let waiter: EventLoopPromise<Registration>? = state.withLock { state in
            if let waiter = state.waiters.removeValue(forKey: key) { return waiter }
            if state.registrations.count > 1024 {
                let cutoff = registration.registeredAt - Self.staleAfter
                state.registrations = state.registrations.filter { $0.value.registeredAt > cutoff }
            }
            state.registrations[key] = registration
            return nil
        }
        waiter?.succeed(registration)
    }

    /// The registration for `key` if it is already there; otherwise `promise` is kept and fulfilled by `register`.
    func claim(_ key: SocketAddressKey, promise: EventLoopPromise<Registration>) -> Registration? {
        state.withLock { state in
            if let registration = state.registrations.removeValue(forKey: key) { return registration }
            state.waiters[key] = promise
            return nil
        }
    }

    /// Withdraws a waiting claim; false when `register` already fulfilled it.
    func abandon(_ key: SocketAddressKey, promise: EventLoopPromise<Registration>) -> Bool {
        state.withLock { state in
            guard let waiter = state.waiters[key], waiter.futureResult === promise.futureResult else { return false }
            state.waiters[key] = nil
            return true
        }
    }
}
