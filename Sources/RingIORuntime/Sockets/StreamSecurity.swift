#if os(Linux)
package import RingIOCore

/// How a stream starts TLS: the context (as a layer factory), its role, the host name a client
/// verifies, whether a ragged EOF is an error, and how long a background handshake may take.
package struct TLSSetup: Sendable {
    package let factory: any SecureLayerFactory
    package let role: TLSRole
    package let serverHostname: String?
    package let standardCompatible: Bool
    /// The time limit of a handshake run in the background (a listener's autostart): a peer that
    /// connects and never finishes it would otherwise hold its stream, and the handler waiting
    /// on it, forever. `nil` for handshakes run by a caller, which its own deadline bounds.
    package let handshakeTimeout: Duration?

    package init(
        factory: any SecureLayerFactory, role: TLSRole, serverHostname: String?, standardCompatible: Bool,
        handshakeTimeout: Duration? = nil
    ) {
        self.factory = factory
        self.role = role
        self.serverHostname = serverHostname
        self.standardCompatible = standardCompatible
        self.handshakeTimeout = handshakeTimeout
    }
}

/// The TLS state of one stream: the layer once started, a handshake running in the background
/// (servers with autostart: it starts at accept in a task of its own, so a slow or failing client
/// never holds up the accept loop, and the stream's first receive or send waits for it), and the
/// handshake's failure, which every later call sees. Loop-confined.
final class StreamSecurity {
    /// What `startTLS()` uses when it is given no context.
    @exclusivity(unchecked) var setup: TLSSetup?
    @exclusivity(unchecked) private(set) var layer: (any SecureLayer)?
    @exclusivity(unchecked) private(set) var info: TLSInfo?
    @exclusivity(unchecked) private var running = false
    /// Receives and sends waiting for the handshake: parked loop operations, so their deadlines,
    /// cancellation and the stream's close apply to the wait.
    @exclusivity(unchecked) private var waiters: [OperationID] = []
    @exclusivity(unchecked) private var failure: (any Error)?

    /// How many receives and sends wait for the handshake (tests check that none is left behind).
    var handshakeWaiterCount: Int { waiters.count }

    /// Whether TLS is active or on its way (started, or waiting to start).
    var isStartedOrPending: Bool { layer != nil || running }

    /// Marks a handshake as running before its background task starts, so that receives and
    /// sends made meanwhile wait for it.
    func reserveBackgroundHandshake(_ setup: TLSSetup) {
        self.setup = setup
        running = true
    }

    /// The body of the background handshake reserved with ``reserveBackgroundHandshake(_:)``.
    nonisolated(nonsending) func runBackgroundHandshake(on loop: EventLoop, channel: StreamChannel, receiver: BufferedReceiver) async {
        guard let setup else { preconditionFailure("runBackgroundHandshake without a reserved TLS setup") }
        running = false
        guard let limit = setup.handshakeTimeout else {
            try? await handshake(setup, on: loop, channel: channel, receiver: receiver)
            return
        }
        let context = receiver.context
        try? await withTimeout(limit) {
            try await handshake(setup, on: loop, channel: channel, receiver: receiver) { error in
                // The waiting receive or send learns why its stream was closed.
                guard let error = error as? RingIOError, error.code == .timedOut else { return error }
                return RingIOError(
                    .tlsHandshakeFailed,
                    "TLS handshake on \(context): the peer did not complete it within the listener's "
                        + "handshakeTimeout (\(limit))")
            }
        }
    }

    /// Waits for a running handshake, and throws if the handshake failed. Inlined: on the hot
    /// path (no handshake running, none failed) it costs two loads and no async frame.
    @inline(__always)
    nonisolated(nonsending) func ready(on loop: EventLoop, channel: StreamChannel, receiver: BufferedReceiver) async throws {
        guard running || failure != nil else { return }
        try await waitForHandshake(on: loop, receiver: receiver)
    }

    private nonisolated(nonsending) func waitForHandshake(on loop: EventLoop, receiver: BufferedReceiver) async throws {
        while running {
            var waiter: OperationID?
            let completion = await loop.park {
                waiter = $0
                waiters.append($0)
            }
            // A wait that timed out or was cancelled leaves the list: repeated timed-out receives
            // on a stream whose handshake is slow must not pile up.
            if let waiter, completion.interruption != nil { waiters.removeAll { $0 == waiter } }
            if let interruption = completion.interruption {
                throw interruption.error("waiting for the TLS handshake on \(receiver.context)")
            }
        }
        if let failure { throw failure }
    }

    /// Starts TLS now.
    nonisolated(nonsending) func start(_ setup: TLSSetup, on loop: EventLoop, channel: StreamChannel, receiver: BufferedReceiver)
        async throws
    {
        self.setup = setup
        try await handshake(setup, on: loop, channel: channel, receiver: receiver)
    }

    /// Runs the handshake. Bytes the stream already buffered (a peer that sent its ClientHello
    /// right behind a STARTTLS line) are ciphertext and go to the engine first. On failure the
    /// stream is closed: its bytes can no longer be trusted.
    nonisolated(nonsending) private func handshake(
        _ setup: TLSSetup, on loop: EventLoop, channel: StreamChannel, receiver: BufferedReceiver,
        describing describe: (any Error) -> any Error = { $0 }
    ) async throws {
        running = true
        defer {
            running = false
            let waiting = waiters
            waiters = []
            for waiter in waiting { loop.wake(waiter) }
        }
        do {
            let layer = try setup.factory.makeLayer(
                over: channel, role: setup.role, serverHostname: setup.serverHostname, standardCompatible: setup.standardCompatible,
                initialCiphertext: receiver.takeBufferedData())
            info = try await layer.handshake()
            self.layer = layer
        } catch {
            failure = describe(error)
            receiver.close()
            await channel.close()
            throw error
        }
    }
}
#endif
