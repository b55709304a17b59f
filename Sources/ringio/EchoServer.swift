import ArgumentParser
import RingIO

/// An echo server: writes every byte it receives back to its sender (the server the benchmarks measure).
struct EchoServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-server",
        abstract:
            "Echo every byte back to its sender, for any number of clients (TCP, TLS with --cert/--key, or --unix; --threads N loops).")

    @OptionGroup var listen: ListenOptions
    @OptionGroup var tls: TLSServerOptions
    @OptionGroup var backendOption: BackendOption
    @OptionGroup var shutdown: ShutdownOptions

    @Option(help: "Event loops (threads) to serve on; each listens on the port with SO_REUSEPORT.")
    var threads: Int = 1

    func validate() throws {
        guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads must be in 1...256") }
        if threads > 1 && listen.unix != nil { throw ValidationError("--threads works with TCP; drop --unix") }
    }

    func run() async throws {
        Console.startLogging(defaultLevel: .info)
        let grace = shutdown.grace
        let listen = listen
        let context = try tls.makeContext()
        let runtime = try Runtime(backend: try backendOption.preference, loopCount: threads)
        do {
            let shared = threads > 1
            let first = try await runtime.run { try await listen.makeListener(tlsContext: context, reusePort: shared) }
            var listeners = [first]
            for loop in runtime.loops.dropFirst() {
                let listener = try await withTaskExecutorPreference(loop) {
                    try await listen.makeListener(tlsContext: context, reusePort: true, port: first.port)
                }
                listeners.append(listener)
            }
            Console.listening(first)
            let all = listeners
            try await runtime.run { try await StreamServer.serve(all, gracePeriod: grace) { await EchoService.echo($0) } }
        } catch {
            await runtime.shutdown()
            throw error
        }
        await runtime.shutdown()
    }
}

/// The echo loop, shared by `echo-server` and `bench`.
enum EchoService {
    /// Accepts clients until the listener closes, echoing each in its own task (no signal
    /// handling: `bench` closes the listener itself).
    static func serve(_ server: SocketListener) async throws {
        try await StreamServer.acceptLoop(server) { await echo($0) }
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
