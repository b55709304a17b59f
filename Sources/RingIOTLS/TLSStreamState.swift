import RingIOCore

/// Where a ``TLSStream`` is in its life, as a value: the stream asks it whether a receive or send
/// may go on, and tells it what happened (`TLSStreamStateTests` checks every transition without
/// OpenSSL or a socket).
///
/// A stream starts awaiting its handshake, which runs once (in the caller's task, or in a task
/// of its own for a listener's autostart); receives and sends made meanwhile wait. The handshake
/// establishes the stream or fails it for good. An established stream can be unwrapped once, after
/// which its traffic belongs to the transport again.
struct TLSStreamState {
    enum Phase {
        case awaitingHandshake
        case handshaking
        case established(TLSInfo)
        case failed(any Error)
        case unwrapped
    }

    private(set) var phase = Phase.awaitingHandshake

    /// What a receive or send does now.
    enum Access {
        /// Go on: the handshake has completed.
        case proceed
        /// Wait for the handshake, then ask again.
        case wait
        /// Throw this.
        case fail(any Error)
    }

    /// Whether `what` (naming the call and the stream) may go on.
    func access(_ what: @autoclosure () -> String) -> Access {
        switch phase {
        case .established: return .proceed
        case .awaitingHandshake, .handshaking: return .wait
        case .failed(let error): return .fail(error)
        case .unwrapped:
            return .fail(RingIOError(.closedResource, "\(what()): the TLS stream was unwrapped; use the stream unwrap() returned"))
        }
    }

    /// The negotiated parameters, once established.
    var info: TLSInfo? {
        if case .established(let info) = phase { return info }
        return nil
    }

    var isUnwrapped: Bool {
        if case .unwrapped = phase { return true }
        return false
    }

    /// The handshake starts: only from awaiting it.
    ///
    /// - Throws: the failure of a stream that failed before its handshake could start (its
    ///   session could not be made).
    mutating func beginHandshake() throws {
        switch phase {
        case .awaitingHandshake:
            phase = .handshaking
        case .failed(let error):
            throw error
        case .handshaking, .established, .unwrapped:
            preconditionFailure("a TLS stream's handshake started twice (phase \(phase))")
        }
    }

    mutating func handshakeCompleted(_ info: TLSInfo) {
        precondition(isHandshaking, "a TLS handshake completed that was not running (phase \(phase))")
        phase = .established(info)
    }

    /// The handshake failed, or the stream could not even start one: every later call throws `error`.
    mutating func failed(_ error: any Error) {
        switch phase {
        case .awaitingHandshake, .handshaking: phase = .failed(error)
        case .established, .failed, .unwrapped: preconditionFailure("a TLS stream failed after its handshake ended (phase \(phase))")
        }
    }

    /// The stream was unwrapped: its traffic belongs to the transport from now on.
    mutating func unwrapped() {
        guard case .established = phase else { preconditionFailure("a TLS stream unwrapped before it was established (phase \(phase))") }
        phase = .unwrapped
    }

    private var isHandshaking: Bool {
        if case .handshaking = phase { return true }
        return false
    }
}
