import ArgumentParser
import RingIO

/// The guide's TCP server: reads one line from each client and answers `Hello, <line>`.
struct HelloServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hello-server", abstract: "Answer each client's first line with \"Hello, <line>\" and close.")

    @OptionGroup var listen: ListenOptions
    @OptionGroup var tls: TLSServerOptions
    @OptionGroup var backendOption: BackendOption
    @OptionGroup var shutdown: ShutdownOptions

    func run() async throws {
        Console.startLogging(defaultLevel: .info)
        let grace = shutdown.grace
        let listen = listen
        let context = try tls.makeContext()
        try await RingIO.run(backend: try backendOption.preference) {
            let server = try await listen.makeListener(tlsContext: context)
            Console.listening(server)
            try await StreamServer.serve(server, gracePeriod: grace) { await Self.serve($0) }
        }
    }

    /// Serves one client; its failures (a line over 1024 bytes or not UTF-8, an early disconnect) drop only it.
    static func serve(_ client: SocketStream) async {
        do {
            try await client.closeAfter { client in
                let name = try await client.receiveUntil("\n", maxBytes: 1024)
                try await client.sendAll("Hello, \(try name.utf8String())\n")
            }
        } catch {
            Console.complain("client \(client.remoteAddress): \(error)")
        }
    }
}
