#if os(Linux)
import CRingIOSystem
import Glibc
import Logging
public import RingIOCore

/// A listening socket: what `createTCPServer` returns.
///
/// `acceptConnections()` yields a ``SocketStream`` per client and ends when the listener is
/// closed (from any task). `@unchecked Sendable` for the same reason as ``SocketStream``: its
/// channel is used only on `loop`'s thread, through `loop.confine`.
public final class SocketListener: @unchecked Sendable {
    let loop: EventLoop
    private let channel: AcceptChannel
    let kind: String
    /// The connections `serve` handles, shared with `shutdown(gracePeriod:)`.
    let connections = ServedConnections()
    /// The address the listener is bound to (with the real port when you asked for port 0).
    public let localAddress: SocketAddress

    /// For a UNIX listener bound to a file: the socket file to remove on close, if it is still ours.
    private let socketFile: UNIXSocketFile?
    /// TLS for accepted streams: started right after accept in a task of its own (`autostart`;
    /// the stream's receives and sends wait for it), or kept for the stream's own `startTLS()`.
    private let tls: (setup: TLSSetup, autostart: Bool)?

    init(
        loop: EventLoop, channel: AcceptChannel, localAddress: SocketAddress, kind: String, socketFile: UNIXSocketFile? = nil,
        tls: (setup: TLSSetup, autostart: Bool)? = nil
    ) {
        self.loop = loop
        self.channel = channel
        self.localAddress = localAddress
        self.kind = kind
        self.socketFile = socketFile
        self.tls = tls
    }

    /// The bound port (`nil` for a UNIX listener).
    public var port: Int? { localAddress.port.map(Int.init) }

    /// Waits for the next client.
    ///
    /// Errors of one connection or of a passing condition do not end accepting: a client that
    /// gave up before it was accepted is skipped; lack of descriptors or memory, EPERM from a
    /// firewall rule, EPROTO and the network errors accept(2) lists are logged (swift-log, label
    /// `RingIO`, warning) and retried with a backoff of 10 ms up to 1 s; a connection whose
    /// set-up fails is closed and logged. Only the listener's own failure is thrown.
    ///
    /// - Throws: ``RingIOError`` `.closedResource` once the listener is closed, `.busyResource` if
    ///   another task is accepting, the kernel's error when the listener itself is unusable
    ///   (EBADF, EINVAL, ENOTSOCK); `.timedOut` under a deadline; `CancellationError`.
    public func accept() async throws -> SocketStream {
        try await loop.confine {
            while true {
                let fd = try await channel.accept()
                do {
                    return try makeStream(fd)
                } catch {
                    // That connection is closed already; the listener and its other clients go on.
                    Logger(label: "RingIO").warning(
                        "accepted connection dropped: its set-up failed",
                        metadata: ["listener": "\(kind) listener \(localAddress)", "error": "\(error)"])
                }
            }
        }
    }

    private func makeStream(_ fd: Int32) throws -> SocketStream {
        if loop.faults.streamSetupFailures > 0 {
            loop.faults.streamSetupFailures -= 1
            SocketCalls.closeNow(fd)
            throw RingIOError.system(errno: EINVAL, "set up accepted socket on \(localAddress) (injected)")
        }
        var isUNIX = false
        if case .unix = localAddress { isUNIX = true }
        if !isUNIX {
            do {
                try SocketCalls.setOption(
                    fd, level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1, describing: "accepted socket on \(localAddress)")
            } catch {
                SocketCalls.closeNow(fd)
                throw error
            }
        }
        let local = SocketCalls.localAddress(fd) ?? localAddress
        let remote = SocketCalls.remoteAddress(fd) ?? .unix(path: "")
        let streamChannel: StreamChannel
        do {
            streamChannel = try StreamChannel(
                loop: loop, fd: fd, context: "\(kind) stream \(local) ↔ \(remote.description.isEmpty ? "(unnamed)" : remote.description)",
                passesDescriptors: isUNIX)
        } catch {
            SocketCalls.closeNow(fd)
            throw error
        }
        let stream = SocketStream(
            loop: loop, channel: streamChannel, localAddress: local, remoteAddress: remote, kind: kind, tlsRole: .server)
        if let tls { stream.configureTLS(tls.setup, now: tls.autostart) }
        return stream
    }

    /// Whether a task is waiting in `accept` (tests use it to order tasks without sleeping).
    package var isAccepting: Bool {
        get async { (try? await loop.confine { channel.isAccepting }) ?? false }
    }

    /// How many times accepting waited for free descriptors (tests observe the backoff with it).
    package var resourceWaits: Int {
        get async { (try? await loop.confine { channel.resourceWaits }) ?? 0 }
    }

    /// The clients, as they connect. The sequence ends when the listener is closed; other errors
    /// (such as EMFILE) are thrown from it.
    public func acceptConnections() -> AcceptedConnections {
        AcceptedConnections(listener: self)
    }

    /// Stops listening. A task waiting in `accept` gets `.closedResource` (and
    /// `acceptConnections()` ends). Closing twice does nothing.
    public func close() async {
        _ = try? await loop.confine {
            await channel.close()
            socketFile?.removeIfUnchanged()
        }
    }
}

/// The clients of a ``SocketListener``, as an `AsyncSequence`.
public struct AcceptedConnections: AsyncSequence, Sendable {
    public typealias Element = SocketStream
    let listener: SocketListener

    public struct AsyncIterator: AsyncIteratorProtocol {
        let listener: SocketListener
        var finished = false

        public mutating func next() async throws -> SocketStream? {
            guard !finished else { return nil }
            do {
                return try await listener.accept()
            } catch let error as RingIOError where error.code == .closedResource {
                finished = true
                return nil
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(listener: listener)
    }
}
#endif
