import RingIOCore
import Testing

@testable import RingIOTLS

/// Every transition of a TLS session's state, as a value: no OpenSSL, no socket.
@Suite struct TLSSessionStateTests {
    private let failure = RingIOError(.tlsFailure, "bad record mac", bytesTransferred: 42)

    @Test func aSessionSendsOneTaskAtATime() throws {
        var state = TLSSessionState()
        try state.beginSend()
        let error = #expect(throws: RingIOError.self) { try state.beginSend() }
        #expect(error?.code == .busyResource)
        state.endSend()
        try state.beginSend()
    }

    @Test func closeNotifyGoesOutOnceAndEndsSending() throws {
        var state = TLSSessionState()
        state.handshakeCompleted()
        #expect(try state.beginCloseNotify() == .send)
        #expect(try state.beginCloseNotify() == .alreadySent)
        let error = #expect(throws: RingIOError.self) { try state.beginSend() }
        #expect(error?.code == .closedResource)
        #expect(state.failure == nil)
    }

    @Test func closeNotifyDuringASendIsBusy() throws {
        var state = TLSSessionState()
        try state.beginSend()
        let error = #expect(throws: RingIOError.self) { try state.beginCloseNotify() }
        #expect(error?.code == .busyResource)
        #expect(!state.hasSentCloseNotify)
    }

    @Test func aBrokenSessionThrowsItsFailureForEveryLaterCallWithNoBytesSent() {
        var state = TLSSessionState()
        state.handshakeCompleted()
        state.broke(failure)
        state.broke(RingIOError(.connectionReset, "a later failure does not replace the first"))
        let send = #expect(throws: RingIOError.self) { try state.beginSend() }
        #expect(send?.message == "bad record mac")
        #expect(send?.bytesTransferred == 0)
        let close = #expect(throws: RingIOError.self) { try state.beginCloseNotify() }
        #expect(close?.message == "bad record mac")
        #expect((state.failure as? RingIOError)?.code == .tlsFailure)
    }

    @Test func aSessionThatSentCloseNotifyCanStillBreakAndDoesNotSendItAgain() throws {
        var state = TLSSessionState()
        _ = try state.beginCloseNotify()
        state.broke(failure)
        #expect(state.failure != nil)
        #expect(state.hasSentCloseNotify)
        #expect(try state.beginCloseNotify() == .alreadySent)
    }

    /// Found by tools/fuzz tls: a send waiting behind a flush when the session broke. close_notify
    /// must be refused as busy (nothing sent), not fail with the session's error, or its caller
    /// cannot tell that close_notify never went out.
    @Test func closeNotifyDuringASendOnABrokenSessionIsBusy() throws {
        var state = TLSSessionState()
        try state.beginSend()
        state.broke(failure)
        let error = #expect(throws: RingIOError.self) { try state.beginCloseNotify() }
        #expect(error?.code == .busyResource)
    }

    @Test func flushesDoNotOverlap() {
        var state = TLSSessionState()
        state.beginFlush()
        #expect(state.flushing)
        state.endFlush()
        #expect(!state.flushing)
        state.beginFlush()
        #expect(state.flushing)
    }
}
