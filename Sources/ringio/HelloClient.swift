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

    @Flag(help: "Use TLS (verifying the server's certificate and host name).")
    var tls = false

    @Option(help: "Trust the CA certificates in this PEM file instead of the system's (with --tls).")
    var cafile: String?

    @Flag(help: "Accept an end of stream without TLS close_notify (tlsStandardCompatible: false).")
    var raggedEofOk = false

    func validate() throws {
        if unix == nil && port == nil { throw ValidationError("give --port (TCP) or --unix PATH") }
        if !tls && (cafile != nil || raggedEofOk) { throw ValidationError("--cafile and --ragged-eof-ok need --tls") }
        if tls && unix != nil { throw ValidationError("--tls works over TCP; drop --unix") }
    }

    @OptionGroup var backendOption: BackendOption

    func run() async throws {
        Console.startLogging(defaultLevel: .warning)
        let (host, port, unix, standard) = (host, port ?? 0, unix, !raggedEofOk)
        do {
            let context = tls ? try TLSContext.client(caFile: cafile) : nil
            let answer = try await RingIO.run(backend: try backendOption.preference) {
                let client: SocketStream
                if let unix {
                    client = try await connectUNIX(path: unix)
                } else {
                    client = try await connectTCP(host: host, port: port, tlsContext: context, tlsStandardCompatible: standard)
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
