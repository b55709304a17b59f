import ArgumentParser
import RingIO

/// The guide's STARTTLS client: sends DUMMY and STARTTLS in the clear, starts TLS, sends ENCRYPTED and QUIT.
struct StartTLSClient: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "starttls-client", abstract: "Send DUMMY, STARTTLS, start TLS, then send ENCRYPTED and QUIT.")

    @Option(help: "The server's host name or address.")
    var host: String = "localhost"

    @Option(help: "The server's port.")
    var port: Int

    @Option(help: "Trust the CA certificates in this PEM file instead of the system's.")
    var cafile: String?

    @OptionGroup var backendOption: BackendOption

    func run() async throws {
        Console.startLogging(defaultLevel: .warning)
        let (host, port) = (host, port)
        do {
            let context = try TLSContext.client(caFile: cafile)
            try await RingIO.run(backend: try backendOption.preference) {
                let client = try await connectTCP(host: host, port: port, tlsContext: context, autostartTLS: false)
                try await client.closeAfter { client in
                    try await client.sendAll("DUMMY\n")
                    try await client.sendAll("STARTTLS\n")
                    try await client.startTLS()
                    try await client.sendAll("ENCRYPTED\n")
                    try await client.sendAll("QUIT\n")
                }
            }
        } catch let error as RingIOError {
            Console.complain("ringio starttls-client: \(error)")
            throw ExitCode.failure
        }
    }
}
