import RingIOCore

/// What a TLS session may do next, as a value: ``TLSSession`` asks it before each step and tells
/// it what happened (`TLSSessionStateTests` checks every transition without OpenSSL or a socket).
///
/// The session is handshaking, then open; once it sent close_notify it sends nothing more (it
/// can still receive); a failure after the handshake (a bad record, a fatal alert, a lost write)
/// breaks it for good, and every later call throws that failure. Apart from the phase, at most
/// one task sends plaintext at a time, and one flush at a time writes ciphertext to the
/// transport, so records stay in order.
struct TLSSessionState {
    enum Phase {
        case handshaking
        case open
        case closeNotifySent
        /// `afterCloseNotify`: it broke after it sent close_notify, which then went out once
        /// and for all.
        case broken(any Error, afterCloseNotify: Bool)
    }

    private(set) var phase = Phase.handshaking
    /// Whether a task is sending plaintext.
    private(set) var sending = false
    /// Whether a flush is writing the engine's output to the transport.
    private(set) var flushing = false

    /// The failure that broke the session, if it is broken.
    var failure: (any Error)? {
        if case .broken(let error, _) = phase { return error }
        return nil
    }

    var hasSentCloseNotify: Bool {
        switch phase {
        case .closeNotifySent, .broken(_, afterCloseNotify: true): return true
        case .handshaking, .open, .broken(_, afterCloseNotify: false): return false
        }
    }

    /// The handshake finished.
    mutating func handshakeCompleted() {
        if case .handshaking = phase { phase = .open }
    }

    /// The session failed: nothing it does from now on can be trusted.
    mutating func broke(_ error: any Error) {
        if case .broken = phase { return }
        phase = .broken(error, afterCloseNotify: hasSentCloseNotify)
    }

    /// Claims the sending side for a send of plaintext.
    ///
    /// - Throws: the failure that broke the session (with no bytes transferred),
    ///   `.closedResource` after close_notify, `.busyResource` while another task sends.
    mutating func beginSend() throws {
        switch phase {
        case .broken(var error as RingIOError, _):
            error.bytesTransferred = 0
            throw error
        case .broken(let error, _):
            throw error
        case .closeNotifySent:
            throw RingIOError(.closedResource, "TLS send: this side already sent close_notify (sendEOF or close)")
        case .handshaking, .open:
            guard !sending else { throw RingIOError(.busyResource, "TLS send: another task is already sending on this stream") }
            sending = true
        }
    }

    mutating func endSend() {
        sending = false
    }

    /// What sending close_notify does now.
    enum CloseNotify: Equatable {
        /// Send it (the phase is now close_notify sent).
        case send
        /// It went out already: nothing to do.
        case alreadySent
    }

    /// Moves to close_notify sent, unless it was sent already (even if the session broke since).
    ///
    /// - Throws: `.busyResource` while a task sends (its data would be cut short), checked
    ///   first, also on a broken session; then the failure that broke the session.
    mutating func beginCloseNotify() throws -> CloseNotify {
        if hasSentCloseNotify { return .alreadySent }
        guard !sending else {
            throw RingIOError(.busyResource, "TLS sendEOF: another task is sending on this stream; close_notify would cut its data short")
        }
        if let failure { throw failure }
        phase = .closeNotifySent
        return .send
    }

    /// A flush starts; the caller made sure none is active.
    mutating func beginFlush() {
        precondition(!flushing, "TLS flush started while another flush is active")
        flushing = true
    }

    /// The flush ended: every task waiting for it re-checks the state.
    mutating func endFlush() {
        flushing = false
    }
}
