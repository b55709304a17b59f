import CFuzzPeer
import RingIOCore

/// The other side of the session under test: an OpenSSL session the harness drives step by step
/// (see `CFuzzPeer/include/fuzz_peer.h`). Everything it decrypts is kept in ``received``.
final class FuzzPeer {
    private let peer: OpaquePointer
    private(set) var handshakeDone = false
    private(set) var failed = false
    /// Whether the session under test's close_notify arrived.
    private(set) var receivedCloseNotify = false
    /// The plaintext decrypted so far.
    private(set) var received: [UInt8] = []

    /// - Parameter context: from ``FuzzPKI/peerContext(server:maximumVersion:)``.
    init(context: OpaquePointer) {
        guard let peer = fuzz_peer_create(context) else { violated("cannot create the fuzz TLS peer") }
        self.peer = peer
    }

    deinit {
        fuzz_peer_free(peer)
    }

    var version: Int32 { fuzz_peer_version(peer) }

    func feed(_ bytes: ByteBuffer) {
        bytes.withUnsafeBytes { fuzz_peer_feed(peer, $0.baseAddress, $0.count) }
    }

    /// Processes what was fed: a handshake step until done, then decryption.
    func advance() {
        guard !failed else { return }
        if !handshakeDone {
            switch fuzz_peer_handshake(peer) {
            case 1: handshakeDone = true
            case 0: return
            default:
                failed = true
                return
            }
        }
        var buffer = [UInt8](repeating: 0, count: 16384)
        while !receivedCloseNotify && !failed {
            let count = buffer.withUnsafeMutableBytes { fuzz_peer_read(peer, $0.baseAddress, $0.count) }
            switch count {
            case 0: return
            case -1: failed = true
            case -2: receivedCloseNotify = true
            default: received.append(contentsOf: buffer[0..<count])
            }
        }
    }

    /// Takes the ciphertext waiting for the session under test.
    func takeOutput() -> [UInt8] {
        let pending = fuzz_peer_pending(peer)
        guard pending > 0 else { return [] }
        var output = [UInt8](repeating: 0, count: pending)
        let taken = output.withUnsafeMutableBytes { fuzz_peer_take(peer, $0.baseAddress, $0.count) }
        return Array(output[0..<taken])
    }

    /// Encrypts `bytes`; false if the peer cannot send (it failed, or its handshake is not done).
    func send(_ bytes: [UInt8]) -> Bool {
        guard handshakeDone && !failed else { return false }
        return bytes.withUnsafeBytes { fuzz_peer_write(peer, $0.baseAddress, $0.count) } == 0
    }

    func sendCloseNotify() {
        fuzz_peer_shutdown(peer)
    }

    func keyUpdate(request: Bool) -> Bool {
        handshakeDone && !failed && fuzz_peer_key_update(peer, request ? 1 : 0) == 0
    }

    func renegotiate() -> Bool {
        handshakeDone && !failed && fuzz_peer_renegotiate(peer) == 0
    }
}
