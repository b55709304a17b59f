import ArgumentParser
import RingIO

/// An echo server: writes every byte it receives back to its sender (the server the benchmarks measure).
struct EchoServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-server", abstract: "Echo every byte back to its sender, for any number of clients (TCP or --unix).")

    @OptionGroup var listen: ListenOptions
    @OptionGroup var backendOption: BackendOption

    func run() async throws {
        Console.startLogging(defaultLevel: .info)
        let listen = listen
        try await RingIO.run(backend: try backendOption.preference) {
            let server = try await listen.makeListener()
            Console.listening(server)
            try await StreamServer.serve(server) { await EchoService.echo($0) }
        }
    }
}

/// The echo loop, shared by `echo-server` and `bench`.
enum EchoService {
    /// Accepts clients until the listener closes, echoing each in its own task; then cancels
    /// the echo tasks still running.
    static func serve(_ server: SocketListener) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for try await client in server.acceptConnections() {
                group.addTask { await echo(client) }
            }
            group.cancelAll()
        }
    }

    /// Echoes until the client finishes or fails, then closes it.
    static func echo(_ client: SocketStream) async {
        do {
            while true {
                let chunk = try await client.receiveSome(maxBytes: 65536)
                try await client.sendAll(chunk)
            }
        } catch {
            // End of stream or a reset ends this client only.
        }
        await client.close()
    }
}
