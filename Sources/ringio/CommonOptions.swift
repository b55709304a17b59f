import ArgumentParser
import Glibc
import Logging
import RingIO
import RingIOServiceLifecycle
import ServiceLifecycle

/// `--backend`, taken by every subcommand.
struct BackendOption: ParsableArguments {
    @Option(help: "The backend: \(BackendPreference.allCases.map(\.rawValue).joined(separator: ", ")).")
    var backend: String = BackendPreference.automatic.rawValue

    var preference: BackendPreference {
        get throws {
            guard let preference = BackendPreference(rawValue: backend) else {
                throw ValidationError(
                    "unknown backend \"\(backend)\"; use one of \(BackendPreference.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return preference
        }
    }
}

/// `--host`, `--port` and `--unix`, taken by the stream server subcommands.
struct ListenOptions: ParsableArguments {
    @Option(help: "The address to listen on (default: every interface, IPv6 and IPv4).")
    var host: String?

    @Option(help: "The port to listen on; 0 picks a free port.")
    var port: Int = 0

    @Option(help: "Listen on this UNIX socket path (or @name for an abstract name) instead of TCP.")
    var unix: String?

    func validate() throws {
        if unix != nil && host != nil { throw ValidationError("--unix and --host exclude each other") }
    }

    /// Creates the listener these options describe (TCP ones with `tlsContext`, autostarted
    /// unless `autostartTLS` is false), on the loop the caller runs on. `port` overrides `--port`.
    func makeListener(
        tlsContext: TLSContext? = nil, autostartTLS: Bool = true, reusePort: Bool = false, port: Int? = nil
    ) async throws -> SocketListener {
        if let unix {
            if tlsContext != nil { throw ValidationError("TLS (--cert) is served over TCP only; drop --unix") }
            return try await createUNIXServer(path: unix)
        }
        return try await createTCPServer(
            port: port ?? self.port, host: host, reusePort: reusePort, tlsContext: tlsContext, autostartTLS: autostartTLS)
    }
}

/// `--grace-period`, taken by the stream servers.
struct ShutdownOptions: ParsableArguments {
    @Option(help: "Seconds that open connections may still run after SIGINT or SIGTERM before they are closed.")
    var gracePeriod: Double = 5

    func validate() throws {
        guard gracePeriod >= 0 && gracePeriod <= 86400 else { throw ValidationError("--grace-period must be in 0...86400 seconds") }
    }

    /// `--grace-period` as a duration.
    var grace: Duration { .milliseconds(Int((gracePeriod * 1000).rounded())) }
}

/// `--cert` and `--key`: serve TLS with this certificate chain and private key (PEM files).
struct TLSServerOptions: ParsableArguments {
    @Option(help: "A PEM certificate chain: serve TLS (with --key).")
    var cert: String?

    @Option(help: "The PEM private key of --cert.")
    var key: String?

    func validate() throws {
        if (cert == nil) != (key == nil) { throw ValidationError("--cert and --key come together") }
    }

    /// The server context, or `nil` without --cert.
    func makeContext() throws -> TLSContext? {
        guard let cert, let key else { return nil }
        return try TLSContext.server(certificateFile: cert, keyFile: key)
    }
}

/// Output helpers shared by the subcommands.
enum Console {
    /// Sends swift-log output (RingIO logs the backend it chose, at level info) to stderr, at the
    /// level in `RINGIO_LOG_LEVEL` or else `defaultLevel`. Servers show the start-up line by
    /// default; clients keep stderr for their one error line.
    static func startLogging(defaultLevel: Logger.Level) {
        // getenv's string is copied into a String at once, before anything could change the environment.
        let configured = unsafe getenv("RINGIO_LOG_LEVEL").flatMap { unsafe Logger.Level(rawValue: String(cString: $0)) }
        let level = configured ?? defaultLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    /// Prints `line` on stdout and flushes at once (scripts wait for `listening on ...`).
    static func say(_ line: String) {
        print(line)
        fflush(nil)
    }

    /// Prints `line` on stderr.
    static func complain(_ line: String) {
        let text = line + "\n"
        // write(2) reads `count - 1` bytes (not the terminating NUL) of the buffer it is lent.
        _ = unsafe text.utf8CString.withUnsafeBufferPointer { unsafe write(STDERR_FILENO, $0.baseAddress, $0.count - 1) }
    }

    /// The `listening on HOST:PORT` (or `listening on PATH`) line.
    static func listening(_ listener: SocketListener) {
        say("listening on \(listener.localAddress)")
    }
}

/// How the stream servers run: each listener as a ``StreamServerService`` in a service group
/// that shuts down gracefully on SIGINT or SIGTERM (stop accepting, let open connections finish
/// for the grace period, close the rest, exit 0).
enum StreamServer {
    static func serve(
        _ listener: SocketListener, gracePeriod: Duration, _ handle: @escaping @Sendable (SocketStream) async -> Void
    ) async throws {
        try await serve([listener], gracePeriod: gracePeriod, handle)
    }

    /// Serves several listeners (one per event loop); each one's handlers run on its listener's loop.
    static func serve(
        _ listeners: [SocketListener], gracePeriod: Duration,
        _ handle: @escaping @Sendable (SocketStream) async -> Void
    ) async throws {
        let services = listeners.map { listener in
            StreamServerService(listener: listener, gracePeriod: gracePeriod) { await handle($0) }
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: Logger(label: "ringio")))
        try await group.run()
    }

    /// One task per client until the listener closes; then the handlers still running are
    /// cancelled. For `bench`, which closes its listener itself and handles no signals.
    static func acceptLoop(_ listener: SocketListener, _ handle: @escaping @Sendable (SocketStream) async -> Void) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for try await client in listener.acceptConnections() {
                group.addTask { await handle(client) }
            }
            group.cancelAll()
        }
    }
}
