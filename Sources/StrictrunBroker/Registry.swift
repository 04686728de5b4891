import NIOCore
import Synchronization

/// A connection the tracer announced: which app socket (by its local address) meant to go where.
struct Registration: Sendable {
    var destination: Destination
    var id: UInt64
    var registeredAt: NIODeadline
}

/// Where the tracer's registrations meet the broker's accepted connections, whichever comes first: the
/// front (``StreamFront``) takes a registration when it accepts, and is woken by `onRegister` when one
/// arrives later.
///
/// Thread-safe: `register` runs on the tracer thread, `take` on the front's thread.
final class Registry: Sendable {
    /// A registration never claimed (the app's connection never reached the broker) is dropped after this long.
    private static let staleAfter = TimeAmount.seconds(120)
    private let state = Mutex([SocketAddressKey: Registration]())
    private let waker = Mutex<(@Sendable () -> Void)?>(nil)

    /// Called after each registration (the front wakes up to claim it).
    var onRegister: (@Sendable () -> Void)? {
        get { waker.withLock { $0 } }
        set { waker.withLock { $0 = newValue } }
    }

    func register(_ key: SocketAddressKey, _ registration: Registration) {
        state.withLock { registrations in
            if registrations.count > 1024 {
                let cutoff = registration.registeredAt - Self.staleAfter
                registrations = registrations.filter { $0.value.registeredAt > cutoff }
            }
            registrations[key] = registration
        }
        onRegister?()
    }

    /// The registration for `key`, removed; nil when none arrived yet.
    func take(_ key: SocketAddressKey) -> Registration? {
        state.withLock { $0.removeValue(forKey: key) }
    }
}
