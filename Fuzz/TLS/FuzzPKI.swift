import CFuzzPeer
import Glibc
import RingIOCore
import RingIOTLS

/// The certificate the `tls` target uses: a self-signed one for `localhost` that `tools/fuzz`
/// makes with the `openssl` command in `.build-fuzz/pki/` (`cert.pem`, `key.pem`). The folder is
/// `$RINGIO_FUZZ_PKI` when set, else `../pki` beside the fuzzer binary. Contexts are made once per
/// process, as a server makes one and shares it between connections.
struct FuzzPKI: Sendable {
    let certificateFile: String
    let keyFile: String
    /// The server context for the session under test (loaded from files, as the tests do). It
    /// caches no sessions here (the peer takes tickets), so sharing it does not grow memory.
    let serverContext: TLSContext
    /// The client context for the session under test: it trusts the certificate and verifies `localhost`.
    let clientContext: TLSContext

    /// Peer contexts by role and highest version (0 = newest, 0x0303, 0x0304), made once.
    /// `OpaquePointer` is not Sendable; the contexts are only read after they are made (OpenSSL
    /// allows an `SSL_CTX` to be shared), and the fuzzer runs one input at a time.
    nonisolated(unsafe) private let peerContexts: [Bool: [Int32: OpaquePointer]]

    static let shared = FuzzPKI()

    private init() {
        let directory = Self.directory()
        certificateFile = directory + "/cert.pem"
        keyFile = directory + "/key.pem"
        do {
            serverContext = try TLSContext(.server(certificateChain: .file(certificateFile), privateKey: .file(keyFile)))
            clientContext = try TLSContext(.client(trustRoots: .file(certificateFile)))
        } catch {
            violated("cannot load the fuzz certificate from \(directory) (run tools/fuzz, or set RINGIO_FUZZ_PKI): \(error)")
        }
        var contexts: [Bool: [Int32: OpaquePointer]] = [:]
        for server in [false, true] {
            for version: Int32 in [0, 0x0303, 0x0304] {
                guard let context = fuzz_peer_context_create(server ? 1 : 0, certificateFile, keyFile, version) else {
                    violated("cannot make the fuzz peer's TLS context from \(directory)")
                }
                contexts[server, default: [:]][version] = context
            }
        }
        peerContexts = contexts
    }

    /// The peer's context for a peer `server` (or client) negotiating at most `maximumVersion`.
    func peerContext(server: Bool, maximumVersion: Int32) -> OpaquePointer {
        guard let context = peerContexts[server]?[maximumVersion] else { violated("no peer context for version \(maximumVersion)") }
        return context
    }

    private static func directory() -> String {
        if let path = getenv("RINGIO_FUZZ_PKI") { return String(cString: path) }
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { violated("cannot find the fuzzer binary's folder; set RINGIO_FUZZ_PKI") }
        let executable = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let binDirectory = executable.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return binDirectory + "/../pki"
    }
}
