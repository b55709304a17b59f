#if os(Linux)
package import RingIOCore

/// How a stream starts TLS: the context (as a layer factory), its role, the host name a client
/// verifies, and whether a ragged EOF is an error.
package struct TLSSetup: Sendable {
    package let factory: any SecureLayerFactory
    package let role: TLSRole
    package let serverHostname: String?
    package let standardCompatible: Bool

    package init(factory: any SecureLayerFactory, role: TLSRole, serverHostname: String?, standardCompatible: Bool) {
        self.factory = factory
        self.role = role
        self.serverHostname = serverHostname
        self.standardCompatible = standardCompatible
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

    /// Whether TLS is active or on its way (started, or waiting to start).
    var isStartedOrPending: Bool { layer != nil || running }

    /// Marks a handshake as running before its background task starts, so that receives and
    /// sends made meanwhile wait for it.
    func reserveBackgroundHandshake(_ setup: TLSSetup) {
        self.setup = setup
        running = true
    }

    /// The body of the background handshake reserved with ``reserveBackgroundHandshake(_:)``.
    nonisolated(nonsending) func runBackgroundHandshake(on loop: EventLoop, channel: any StreamChannel, receiver: BufferedReceiver) async {
        guard let setup else { preconditionFailure("runBackgroundHandshake without a reserved TLS setup") }
        running = false
        try? await handshake(setup, on: loop, channel: channel, receiver: receiver)
    }

    /// Waits for a running handshake, and throws if the handshake failed. Inlined: on the hot
    /// path (no handshake running, none failed) it costs two loads and no async frame.
    @inline(__always)
    nonisolated(nonsending) func ready(on loop: EventLoop, channel: any StreamChannel, receiver: BufferedReceiver) async throws {
        guard running || failure != nil else { return }
        try await waitForHandshake(on: loop, receiver: receiver)
    }

    private nonisolated(nonsending) func waitForHandshake(on loop: EventLoop, receiver: BufferedReceiver) async throws {
        while running {
            let completion = await loop.perform(inKernel: false) { waiters.append($0) }
            if let interruption = completion.interruption {
                throw interruption.error("waiting for the TLS handshake on \(receiver.context)")
            }
        }
        if let failure { throw failure }
    }

    /// Starts TLS now.
    nonisolated(nonsending) func start(_ setup: TLSSetup, on loop: EventLoop, channel: any StreamChannel, receiver: BufferedReceiver)
        async throws
    {
        self.setup = setup
        try await handshake(setup, on: loop, channel: channel, receiver: receiver)
    }

    /// Runs the handshake. Bytes the stream already buffered (a peer that sent its ClientHello
    /// right behind a STARTTLS line) are ciphertext and go to the engine first. On failure the
    /// stream is closed: its bytes can no longer be trusted.
    nonisolated(nonsending) private func handshake(
        _ setup: TLSSetup, on loop: EventLoop, channel: any StreamChannel, receiver: BufferedReceiver
    ) async throws {
        running = true
        defer {
            running = false
            let waiting = waiters
            waiters = []
            for waiter in waiting { loop.complete(waiter, with: Completion(result: 0, flags: 0, interruption: nil)) }
        }
        do {
            let layer = try setup.factory.makeLayer(
                over: channel, role: setup.role, serverHostname: setup.serverHostname, standardCompatible: setup.standardCompatible,
                initialCiphertext: receiver.takeBufferedData())
            info = try await layer.handshake()
            self.layer = layer
        } catch {
            failure = error
            receiver.close()
            await channel.close()
            throw error
        }
    }
}
#endif
