import ArgumentParser
import RingIO

/// The guide's TCP client: sends `Client` and prints the answer.
struct HelloClient: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hello-client", abstract: "Send \"Client\\n\" to a hello server and print its answer.")

    @Option(help: "The server's host name or address.")
    var host: String = "localhost"

    @Option(help: "The server's port.")
    var port: Int?

    @Option(help: "Connect to this UNIX socket path (or @name) instead of TCP.")
    var unix: String?

    func validate() throws {
        if unix == nil && port == nil { throw ValidationError("give --port (TCP) or --unix PATH") }
    }

    @OptionGroup var backendOption: BackendOption

    func run() async throws {
        Console.startLogging(defaultLevel: .warning)
        let (host, port, unix) = (host, port ?? 0, unix)
        do {
            let answer = try await RingIO.run(backend: try backendOption.preference) {
                let client: SocketStream
                if let unix {
                    client = try await connectUNIX(path: unix)
                } else {
                    client = try await connectTCP(host: host, port: port)
                }
                return try await client.closeAfter { client in
                    try await client.sendAll("Client\n")
                    return String(decoding: try await client.receiveUntil("\n", maxBytes: 1024), as: UTF8.self)
                }
            }
            Console.say(answer)
        } catch let error as RingIOError {
            Console.complain("ringio hello-client: \(error)")
            throw ExitCode.failure
        }
    }
}
