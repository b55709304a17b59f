import ArgumentParser
import RingIO

/// The guide's TCP server: reads one line from each client and answers `Hello, <line>`.
struct HelloServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hello-server", abstract: "Answer each client's first line with \"Hello, <line>\" and close.")

    @OptionGroup var listen: ListenOptions
    @OptionGroup var backendOption: BackendOption

    func run() async throws {
        Console.startLogging(defaultLevel: .info)
        let (host, port) = (listen.host, listen.port)
        try await RingIO.run(backend: try backendOption.preference) {
            let server = try await createTCPServer(port: port, host: host)
            Console.listening(server)
            try await withThrowingDiscardingTaskGroup { group in
                for try await client in server.acceptConnections() {
                    group.addTask { await Self.serve(client) }
                }
            }
        }
    }

    /// Serves one client; its failures (a line over 1024 bytes, an early disconnect) drop only it.
    static func serve(_ client: SocketStream) async {
        do {
            try await client.closeAfter { client in
                let name = try await client.receiveUntil("\n", maxBytes: 1024)
                try await client.sendAll("Hello, \(String(decoding: name, as: UTF8.self))\n")
            }
        } catch {
            Console.complain("client \(client.remoteAddress): \(error)")
        }
    }
}
