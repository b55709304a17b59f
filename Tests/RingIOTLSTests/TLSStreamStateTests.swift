import RingIOCore
import Testing

@testable import RingIOTLS

/// Every transition of a TLS stream's phase, as a value: no OpenSSL, no socket.
@Suite struct TLSStreamStateTests {
    private let info = TLSInfo(
        version: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256", alpnProtocol: nil, peerCertificate: nil, role: .client,
        serverHostname: "localhost", standardCompatible: true, channelBindingTLSUnique: nil,
        channelBindingTLSServerEndPoint: nil, channelBindingTLSExporter: nil)

    private func waits(_ state: TLSStreamState) -> Bool {
        if case .wait = state.access("receiveSome") { return true }
        return false
    }

    private func failure(_ state: TLSStreamState) -> RingIOError? {
        if case .fail(let error) = state.access("receiveSome on the test stream") { return error as? RingIOError }
        return nil
    }

    @Test func receivesAndSendsWaitUntilTheHandshakeCompletes() throws {
        var state = TLSStreamState()
        #expect(waits(state))
        try state.beginHandshake()
        #expect(waits(state))
        #expect(state.info == nil)
        state.handshakeCompleted(info)
        guard case .proceed = state.access("receiveSome") else {
            Issue.record("an established stream does not let a receive proceed")
            return
        }
        #expect(state.info == info)
    }

    @Test func aFailedHandshakeFailsEveryLaterCallWithItsReason() throws {
        var state = TLSStreamState()
        try state.beginHandshake()
        state.failed(RingIOError(.tlsHandshakeFailed, "certificate verify failed"))
        #expect(failure(state)?.code == .tlsHandshakeFailed)
        #expect(failure(state)?.message == "certificate verify failed")
        #expect(state.info == nil)
    }

    @Test func aStreamWhoseSessionCouldNotBeMadeRefusesToStartItsHandshake() {
        var state = TLSStreamState()
        state.failed(RingIOError(.tlsFailure, "the context was made for a server"))
        let error = #expect(throws: RingIOError.self) { try state.beginHandshake() }
        #expect(error?.code == .tlsFailure)
        #expect(failure(state)?.code == .tlsFailure)
    }

    @Test func anUnwrappedStreamRefusesItsCallsAndNamesTheStreamToUseInstead() throws {
        var state = TLSStreamState()
        try state.beginHandshake()
        state.handshakeCompleted(info)
        state.unwrapped()
        #expect(state.isUnwrapped)
        #expect(state.info == nil)
        let error = failure(state)
        #expect(error?.code == .closedResource)
        #expect(error?.message == "receiveSome on the test stream: the TLS stream was unwrapped; use the stream unwrap() returned")
    }
}
