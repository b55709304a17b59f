import RingIO
import RingIOTestSupport
import Testing

/// A TLS peer that misbehaves after a correct handshake, driven from Python's `ssl` module over
/// memory BIOs, so it can put exactly the bytes it wants on the wire.
@Suite(.timeLimit(.minutes(2))) struct TLSHostileInputTests {
    /// Handshakes, sends one good record ("intact\n"), then per `mode`: half of a record and EOF
    /// (`truncated`), or a whole record with one ciphertext byte flipped (`corrupted`). It then
    /// waits for the server to close the connection.
    private static let peer = """
        import socket, ssl, sys
        port, mode = int(sys.argv[1]), sys.argv[2]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
        raw = socket.create_connection(("127.0.0.1", port))
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                raw.sendall(outgoing.read())
                data = raw.recv(65536)
                if not data:
                    sys.exit("server closed during the handshake")
                incoming.write(data)
        raw.sendall(outgoing.read())
        tls.write(b"intact\\n")
        raw.sendall(outgoing.read())
        tls.write(b"this record is damaged\\n")
        record = bytearray(outgoing.read())
        if mode == "truncated":
            raw.sendall(record[: len(record) // 2])
            raw.shutdown(socket.SHUT_WR)
        else:
            record[-3] ^= 0x55
            raw.sendall(record)
        raw.settimeout(30)
        try:
            while raw.recv(65536):
                pass
        except ConnectionResetError:
            pass
        print("closed by the server")
        """

    @Test(arguments: TestBackends.all, ["truncated", "corrupted"])
    func aDamagedRecordAfterTheHandshakeFailsClearlyAndKeepsWhatCameBefore(backend: BackendPreference, mode: String) async throws {
        let pki = try testPKI()
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1", tlsContext: try pki.serverContext())
            let client = try PythonPeer.start(Self.peer, arguments: ["\(try #require(listener.port))", mode])
            let stream = try await listener.accept()
            // The record before the damaged one arrives intact.
            #expect(text(try await stream.receiveUntil("\n", maxBytes: 100)) == "intact")
            let error = await #expect(throws: RingIOError.self) { _ = try await stream.receiveUntil("\n", maxBytes: 100) }
            // A cut-off record is an EOF without close_notify (a possible truncation attack on a
            // standard-compatible stream); a damaged one fails decryption.
            if mode == "truncated" {
                #expect(error?.code == .brokenResource)
                #expect(error?.message.contains("without close_notify") == true, "\(String(describing: error))")
            } else {
                #expect(error?.code == .tlsFailure)
                #expect(error?.message.contains("bad record mac") == true, "\(String(describing: error))")
            }
            // The session stays broken: the next receive fails the same way, never a clean end.
            let again = await #expect(throws: RingIOError.self) { _ = try await stream.receiveSome() }
            #expect(again?.code == error?.code)
            await stream.close()
            let outcome = await client.value
            #expect(outcome.status == 0, "peer: \(outcome.errors)")
            await listener.close()
        }
    }

    /// `openssl s_client -tls1_2` (TLS 1.2, so renegotiation exists): sends "hello", waits for the
    /// server's marker line, then asks to renegotiate ("R"), then (for `again`) sends "again".
    /// It then closes s_client's input, so s_client ends (it is killed after 5 s at most: it may wait for input that no longer comes).
    private static let renegotiatingPeer = """
        import subprocess, sys, threading
        port, mode = sys.argv[1], sys.argv[2]
        p = subprocess.Popen(["openssl", "s_client", "-tls1_2", "-connect", "127.0.0.1:" + port, "-servername", "localhost"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        threading.Timer(5, p.kill).start()
        p.stdin.write(b"hello\\n"); p.stdin.flush()
        seen = b""
        while b"server-marker" not in seen:
            line = p.stdout.readline()
            if not line:
                sys.exit("s_client ended before the server's marker: " + seen.decode(errors="replace"))
            seen += line
        p.stdin.write(b"R\\n"); p.stdin.flush()
        if mode == "again":
            while b"RENEGOTIATING" not in seen:
                line = p.stdout.readline()
                if not line:
                    break
                seen += line
            p.stdin.write(b"again\\n"); p.stdin.flush()
        p.stdin.close()
        seen += p.stdout.read()
        p.wait()
        print(seen.decode(errors="replace"))
        """

    /// A TLS 1.2 client's renegotiation is refused: the session ends with an error that says so,
    /// so a peer cannot make the server answer (and queue output) once per attempt.
    @Test(arguments: TestBackends.all)
    func aTLS12RenegotiationIsRefused(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let serverContext = try pki.serverContext()
        try await withTestRuntime(backend) {
            let listener = try await tlsTestListener(serverContext)
            let peer = try PythonPeer.start(Self.renegotiatingPeer, arguments: ["\(try #require(listener.port))", "refused"])
            let stream = try await withTimeout(.seconds(20)) { try await listener.accept() }
            try await withTimeout(.seconds(20)) {
                #expect(text(try await stream.receiveUntil("\n", maxBytes: 100)) == "hello")
                try await stream.sendAll("server-marker\n")
                let refused = await #expect(throws: RingIOError.self) { _ = try await stream.receiveSome() }
                #expect(refused?.code == .tlsFailure)
                #expect(refused?.message.contains("renegotiate") == true, "\(String(describing: refused))")
                #expect(await stream.tls?.version == "TLSv1.2")
            }
            await stream.close()
            await listener.close()
            _ = await peer.value
        }
    }

    /// With `allowsRenegotiation` the same client renegotiates and the session goes on.
    @Test(arguments: TestBackends.all)
    func aTLS12RenegotiationGoesThroughWhenAllowed(backend: BackendPreference) async throws {
        let pki = try testPKI()
        var configuration = TLSConfiguration.server(
            certificateChain: .file(pki.certificate("server")), privateKey: .file(pki.key("server")))
        configuration.allowsRenegotiation = true
        let serverContext = try TLSContext(configuration)
        try await withTestRuntime(backend) {
            let listener = try await tlsTestListener(serverContext)
            let peer = try PythonPeer.start(Self.renegotiatingPeer, arguments: ["\(try #require(listener.port))", "again"])
            let stream = try await withTimeout(.seconds(20)) { try await listener.accept() }
            try await withTimeout(.seconds(20)) {
                #expect(text(try await stream.receiveUntil("\n", maxBytes: 100)) == "hello")
                try await stream.sendAll("server-marker\n")
                #expect(text(try await stream.receiveUntil("\n", maxBytes: 100)) == "again")
            }
            await stream.close()
            await listener.close()
            let outcome = await peer.value
            #expect(outcome.output.contains("RENEGOTIATING"), "\(outcome.output)")
        }
    }

}
