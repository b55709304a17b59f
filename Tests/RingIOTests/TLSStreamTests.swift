import RingIO
import RingIOTestSupport
import Synchronization
import Testing

/// TLS as a stream of its own: the `TLSStream` a socket hands its traffic to, unwrapping it, and
/// TLS over a byte stream that is not a socket.
@Suite(.timeLimit(.minutes(2))) struct TLSStreamTests {
    /// The first `count` bytes sent in the clear after an unwrap: those in `leftover` (what the
    /// unwrap handed back), then the rest received from the plain stream.
    private static func plainText(of count: Int, after leftover: ByteBuffer, from stream: any ByteStream) async throws -> String {
        let missing = count - leftover.count
        return text(leftover) + (missing > 0 ? text(try await stream.receiveExactly(missing)) : "")
    }

    @Test(arguments: TestBackends.all)
    func theTLSStreamOfASocketCarriesTheSameTrafficAsTheSocket(backend: BackendPreference) async throws {
        let pki = try testPKI()
        try await withTLSPair(backend, server: try pki.serverContext(), client: try pki.clientContext()) { server, client in
            let clientTLS = try #require(await client.tlsStream)
            #expect(await clientTLS.tls == (await client.tls))
            try await clientTLS.sendAll("via the TLS stream")
            let received = try await server.receiveExactly(18)
            #expect(text(received) == "via the TLS stream")
            try await server.sendAll("back")
            let reply = try await clientTLS.receiveExactly(4)
            #expect(text(reply) == "back")
        }
    }

    /// After a close_notify exchange both ends are plain again: what one side sends right after
    /// its unwrap arrives at the other, part of it maybe as the leftover of the unwrap.
    @Test(arguments: TestBackends.all)
    func unwrapAfterTheCloseNotifyExchangeGivesBackThePlainStreamAndNothingIsLost(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let serverContext = try pki.serverContext()
        let clientContext = try pki.clientContext()
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1", tlsContext: serverContext, autostartTLS: false)
            async let accepted = listener.accept()
            let client = try await connectTCP(host: "localhost", port: try #require(listener.port))
            let server = try await accepted
            async let serverStarted = server.startTLS()
            let clientTLS = try await client.startTLS(context: clientContext, serverHostname: "localhost")
            let serverTLS = try await serverStarted
            try await clientTLS.sendAll("secret")
            #expect(text(try await serverTLS.receiveExactly(6)) == "secret")

            async let serverUnwrapped = serverTLS.unwrap()
            let (clientPlain, leftover) = try await endTLS(clientTLS)  // the guide's example
            let (serverPlain, serverLeftover) = try await serverUnwrapped
            #expect(serverLeftover.isEmpty)
            #expect(clientPlain === client)
            #expect(await client.tls == nil)
            try await serverPlain.sendAll("plain again")
            #expect(try await Self.plainText(of: 11, after: leftover, from: client) == "plain again")

            let refused = await #expect(throws: RingIOError.self) { try await clientTLS.receiveSome() }
            #expect(refused?.code == .closedResource)
            await server.close()
            await client.close()
            await listener.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func unwrapWithPlaintextStillToReadFailsAndTheBytesStayReadable(backend: BackendPreference) async throws {
        let pki = try testPKI()
        try await withTLSPair(backend, server: try pki.serverContext(), client: try pki.clientContext()) { server, client in
            let clientTLS = try #require(await client.tlsStream)
            try await server.sendAll("unread")
            let error = await #expect(throws: RingIOError.self) { _ = try await clientTLS.unwrap() }
            #expect(error?.code == .tlsFailure)
            #expect(error?.message.contains("receive") == true)
            #expect(text(try await clientTLS.receiveExactly(6)) == "unread")
        }
    }

    /// TLS inside TLS: the inner streams wrap TLS streams, not sockets, so their ciphertext goes
    /// through another stream's functions.
    @Test(arguments: TestBackends.all)
    func wrapRunsTLSOverAByteStreamThatIsNotASocket(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let serverContext = try pki.serverContext()
        let clientContext = try pki.clientContext()
        try await withTLSPair(backend, server: serverContext, client: clientContext) { server, client in
            let outerServer = try #require(await server.tlsStream)
            let outerClient = try #require(await client.tlsStream)
            async let wrappedServer = TLSStream.wrap(outerServer, context: serverContext)
            let innerClient = try await TLSStream.wrap(outerClient, context: clientContext, serverHostname: "localhost")
            let innerServer = try await wrappedServer
            #expect(await innerClient.tls?.role == .client)
            #expect(await innerServer.tls?.role == .server)
            // TLS inside TLS runs over the same socket, and names its ends.
            #expect(innerClient.remoteAddress == client.remoteAddress)
            #expect(innerServer.localAddress == server.localAddress)
            let payload = patternBytes(200_000)
            async let sent: Void = innerClient.sendAll(payload)
            let received = try await innerServer.receiveExactly(payload.count)
            try await sent
            #expect(sameBytes(received, payload))
            try await innerServer.sendAll("inner reply")
            #expect(text(try await innerClient.receiveExactly(11)) == "inner reply")
            await innerClient.close()
            let end = await #expect(throws: RingIOError.self) { try await innerServer.receiveSome() }
            #expect(end?.code == .endOfStream)
        }
    }

    /// A socket stream holds its TLS stream; the TLS stream holds only the socket's parts, so
    /// the two cannot keep each other (and their loop) alive, and what the TLS stream gives back
    /// when unwrapped is a plain stream over the same connection even once the socket is gone.
    @Test(arguments: TestBackends.all)
    func aTLSStreamDoesNotKeepItsSocketStreamAndUnwrapsWithoutIt(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let serverContext = try pki.serverContext()
        let clientContext = try pki.clientContext()
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1", tlsContext: serverContext, autostartTLS: false)
            async let accepted = listener.accept()
            var client: SocketStream? = try await connectTCP(host: "localhost", port: try #require(listener.port))
            let server = try await accepted
            async let serverStarted = server.startTLS()
            let clientTLS: TLSStream
            do {
                let socket = try #require(client)
                clientTLS = try await socket.startTLS(context: clientContext, serverHostname: "localhost")
            }
            let serverTLS = try await serverStarted
            weak let socketGone = client
            client = nil
            #expect(socketGone == nil, "the TLS stream keeps the socket stream it wraps")

            try await clientTLS.sendAll("secret")
            #expect(text(try await serverTLS.receiveExactly(6)) == "secret")
            async let serverUnwrapped = serverTLS.unwrap()
            let (clientPlain, _) = try await clientTLS.unwrap()
            let (_, serverLeftover) = try await serverUnwrapped
            try await clientPlain.sendAll("plain again")
            #expect(try await Self.plainText(of: 11, after: serverLeftover, from: server) == "plain again")
            await clientPlain.close()
            let end = await #expect(throws: RingIOError.self) { try await server.receiveSome() }
            #expect(end?.code == .endOfStream)
            await server.close()
            await listener.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func aClosedTLSSocketAndItsTLSStreamAreFreedOnceLetGo(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let serverContext = try pki.serverContext()
        let clientContext = try pki.clientContext()
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(
                port: 0, host: "127.0.0.1", tlsContext: Optional(serverContext), handshakeTimeout: testHandshakeTimeout)
            var client: SocketStream?
            var server: SocketStream?
            do {  // an async let keeps its value until the end of its scope
                async let accepted = listener.accept()
                client = try await connectTCP(host: "localhost", port: try #require(listener.port), tlsContext: Optional(clientContext))
                server = try await accepted
            }
            try await server?.sendAll("hello")
            let greeting = try await client?.receiveExactly(5)
            #expect(greeting.map(text) == "hello")
            weak let clientGone = client
            weak let clientTLSGone = await client?.tlsStream
            weak let serverTLSGone = await server?.tlsStream
            #expect(clientTLSGone != nil && serverTLSGone != nil)
            await client?.close()
            await server?.close()
            client = nil
            server = nil
            #expect(clientGone == nil && clientTLSGone == nil && serverTLSGone == nil, "a TLS stream and its socket keep each other")
            await listener.close()
        }
    }

    /// A context of the wrong role cannot make a session: startTLS fails saying so, and the
    /// connection is closed as after any failed handshake (the peer sees its end).
    @Test(arguments: TestBackends.all)
    func startTLSWithAContextOfTheWrongRoleFailsAndClosesTheConnection(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let serverContext = try pki.serverContext()
        try await withStreamPair(backend) { server, client in
            let refused = await #expect(throws: RingIOError.self) { try await client.startTLS(context: serverContext) }
            #expect(refused?.code == .tlsFailure)
            #expect(refused?.message.contains("made for a server") == true)
            let end = await #expect(throws: RingIOError.self) { try await server.receiveSome() }
            #expect(end?.code == .endOfStream)
        }
    }

    /// Wrapping a socket that already runs TLS wraps its TLS stream: TLS inside TLS.
    @Test(arguments: TestBackends.all)
    func wrappingASocketThatRunsTLSWrapsItsTLSStream(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let serverContext = try pki.serverContext()
        let clientContext = try pki.clientContext()
        try await withTLSPair(backend, server: serverContext, client: clientContext) { server, client in
            async let innerServer = TLSStream.wrap(server, context: serverContext)
            let innerClient = try await TLSStream.wrap(client, context: clientContext, serverHostname: "localhost")
            let inner = try await innerServer
            try await innerClient.sendAll("inside")
            #expect(text(try await inner.receiveExactly(6)) == "inside")
        }
    }

    /// unwrap while another task receives is refused before anything is sent: the stream stays
    /// whole (no close_notify went out), and sends still work.
    @Test(arguments: TestBackends.all)
    func unwrapWhileAnotherTaskReceivesIsBusyAndSendsNothing(backend: BackendPreference) async throws {
        let pki = try testPKI()
        try await withTLSPair(backend, server: try pki.serverContext(), client: try pki.clientContext()) { server, client in
            let clientTLS = try #require(await client.tlsStream)
            async let received = clientTLS.receiveExactly(5)
            await eventually { await client.isReceiving }
            let busy = await #expect(throws: RingIOError.self) { _ = try await clientTLS.unwrap() }
            #expect(busy?.code == .busyResource)
            try await clientTLS.sendAll("still")
            #expect(text(try await server.receiveExactly(5)) == "still")
            try await server.sendAll("reply")
            #expect(text(try await received) == "reply")
        }
    }

    /// With a context, `connectTCP` gives a TLS stream whose handshake has completed and that
    /// names the connection's ends; a `TLSListener` accepts TLS streams; unwrapping gives back
    /// a working plain socket stream over the same connection, though only the TLS stream was kept.
    @Test(arguments: TestBackends.all)
    func connectTCPWithAContextGivesAnEstablishedTLSStreamThatUnwrapsToItsSocket(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let serverContext = try pki.serverContext()
        let clientContext = try pki.clientContext()
        try await withTestRuntime(backend) {
            let listener = try await tlsTestListener(serverContext)
            #expect(type(of: listener) == TLSListener.self)
            let port = try #require(listener.port)
            async let accepted = listener.accept()
            let client = try await withTimeout(.seconds(20)) {
                try await connectTCP(host: "localhost", port: port, tlsContext: clientContext)
            }
            #expect(type(of: client) == TLSStream.self)
            let server = try await accepted
            #expect(await client.tls?.role == .client)
            #expect(await client.tls?.serverHostname == "localhost")
            #expect(client.remoteAddress?.port == UInt16(port))
            #expect(client.remoteAddress == server.localAddress)
            #expect(client.localAddress == server.remoteAddress)
            try await client.sendAll("over TLS")
            #expect(text(try await withTimeout(.seconds(20)) { try await server.receiveExactly(8) }) == "over TLS")

            async let serverUnwrapped = server.unwrap()
            let (plain, leftover) = try await client.unwrap()
            let (serverPlain, _) = try await serverUnwrapped
            let socket = try #require(plain as? SocketStream)
            #expect(socket.remoteAddress == client.remoteAddress)
            #expect(await socket.tls == nil)
            try await serverPlain.sendAll("clear")
            #expect(try await Self.plainText(of: 5, after: leftover, from: socket) == "clear")
            await socket.close()
            await serverPlain.close()
            await listener.close()
        }
    }

    /// A `TLSListener` calls its handler once the client's handshake has completed (the handler
    /// reads the session before any receive); a client whose handshake fails (plain HTTP on the
    /// TLS port) is closed without a handler call, and the next client is served.
    @Test(arguments: TestBackends.all)
    func aTLSListenerServesOnlyClientsWhoseHandshakeCompleted(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let serverContext = try pki.serverContext()
        let clientContext = try pki.clientContext()
        try await withTestRuntime(backend) {
            let listener = try await tlsTestListener(serverContext)
            let port = try #require(listener.port)
            let handlerCalls = Mutex(0)
            // On the loop, not the global pool: with other suites' CPU-bound work on the pool,
            // a task started there has been seen to wait seconds before it ran.
            let serving = Task(executorPreference: try Runtime.currentLoop()) {
                try await listener.serve { client in
                    handlerCalls.withLock { $0 += 1 }
                    let version = await client.tls?.version ?? "no session yet"
                    try await client.sendAll(version + "\n")
                }
            }
            let plain = try await connectTCP(host: "127.0.0.1", port: port)
            try await plain.sendAll("GET / HTTP/1.0\r\n\r\n")
            // The server closes it (maybe after an alert); 20 s is a watchdog.
            let closed = await #expect(throws: RingIOError.self) {
                try await withTimeout(.seconds(20)) {
                    while true { _ = try await plain.receiveSome() }
                }
            }
            #expect(closed?.code == .endOfStream || closed?.code == .connectionReset)
            await plain.close()

            let client = try await withTimeout(.seconds(20)) {
                try await connectTCP(host: "localhost", port: port, tlsContext: clientContext)
            }
            let reply = try await withTimeout(.seconds(20)) { try await client.receiveUntil("\n", maxBytes: 100) }
            await client.close()
            #expect(text(reply) == "TLSv1.3")
            #expect(handlerCalls.withLock { $0 } == 1)
            await listener.close()
            try await withTimeout(.seconds(20)) { try await serving.value }
        }
    }

    /// A graceful shutdown while a client's handshake is pending (it connected and never sent a
    /// ClientHello) closes that client without a handler call, and `serve` returns.
    @Test(arguments: TestBackends.all)
    func aTLSListenerShutdownClosesAClientWhoseHandshakeIsPending(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let serverContext = try pki.serverContext()
        try await withTestRuntime(backend) {
            let listener = try await tlsTestListener(serverContext)
            let port = try #require(listener.port)
            let handlerCalls = Mutex(0)
            // On the loop, not the global pool: with other suites' CPU-bound work on the pool,
            // a task started there has been seen to wait seconds before it ran.
            let serving = Task(executorPreference: try Runtime.currentLoop()) {
                try await listener.serve { _ in handlerCalls.withLock { $0 += 1 } }
            }
            let silent = try await connectTCP(host: "127.0.0.1", port: port)
            await eventually { listener.servedConnectionCount == 1 }
            await listener.shutdown(gracePeriod: .zero)
            try await withTimeout(.seconds(20)) { try await serving.value }
            let end = await #expect(throws: RingIOError.self) {
                try await withTimeout(.seconds(20)) { try await silent.receiveSome() }
            }
            #expect(end?.code == .endOfStream || end?.code == .connectionReset)
            #expect(handlerCalls.withLock { $0 } == 0)
            await silent.close()
        }
    }
}
