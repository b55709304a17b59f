import ArgumentParser
import RingIO

/// The guide's STARTTLS server: prints each line received, starts TLS on `STARTTLS`, closes on `QUIT`.
struct StartTLSServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "starttls-server",
        abstract: "Print each line received as Received \"<line>\"; start TLS on STARTTLS; close the client on QUIT.")

    @Option(help: "The address to listen on (default: every interface, IPv6 and IPv4).")
    var host: String?

    @Option(help: "The port to listen on; 0 picks a free port.")
    var port: Int = 0

    @Option(help: "The PEM certificate chain.")
    var cert: String

    @Option(help: "The PEM private key.")
    var key: String

    @OptionGroup var backendOption: BackendOption
    @OptionGroup var shutdown: ShutdownOptions

    func run() async throws {
        Console.startLogging(defaultLevel: .info)
        let grace = shutdown.grace
        let (host, port) = (host, port)
        let context = try TLSContext.server(certificateFile: cert, keyFile: key)
        try await RingIO.run(backend: try backendOption.preference) {
            let server = try await createTCPServer(port: port, host: host, tlsContext: context, autostartTLS: false)
            Console.listening(server)
            try await StreamServer.serve(server, gracePeriod: grace) { await Self.serve($0) }
        }
    }

    static func serve(_ client: SocketStream) async {
        do {
            try await client.closeAfter { client in
                for try await line in client.receiveDelimitedChunks("\n", maxBytes: 100) {
                    let text = try line.utf8String()
                    Console.say("Received \"\(text)\"")
                    if text == "STARTTLS" {
                        try await client.startTLS()
                    } else if text == "QUIT" {
                        return
                    }
                }
            }
        } catch {
            Console.complain("client \(client.remoteAddress): \(error)")
        }
    }
}
