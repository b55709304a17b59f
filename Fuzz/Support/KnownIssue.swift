/// Behaviours of the code under test that the fuzz targets found. Each has a reproducer in
/// Fuzz/crashes/ (see Fuzz/README.md). They are tolerated by default, so that fuzzing goes on past
/// them (and so that older sources can still be fuzzed); a build with `-D RINGIO_FUZZ_STRICT`
/// (`tools/fuzz --strict`) traps on them instead, which is how to check a fix. Those marked fixed
/// no longer occur in the sources since that commit; their reproducers are regression inputs.
enum KnownIssue: String {
    /// `receiveUntil` with an empty delimiter returns an empty buffer (instead of throwing
    /// `.invalidArgument`), before any other check: even on a closed receiver, or with `maxBytes`
    /// below 1. Fixed in c65a20f.
    case emptyDelimiterAccepted = "receiveUntil accepts an empty delimiter"
    /// `receiveDelimitedChunks` with an empty delimiter yields empty records forever and never
    /// reaches end of stream (a `for try await` over it never ends). Fixed in c65a20f.
    case emptyDelimiterSequenceNeverEnds = "receiveDelimitedChunks with an empty delimiter never ends"
    /// A TLS receive that failed on the peer's fatal alert (`.tlsFailure`) is followed by receives
    /// that return end of stream, as if the peer had sent close_notify, even when
    /// standard-compatible (OpenSSL reports SSL_ERROR_ZERO_RETURN once the fatal alert has set
    /// SSL_RECEIVED_SHUTDOWN, and `ringio_tls_read` maps that to RINGIO_TLS_CLOSED). Fixed in
    /// c65a20f: the failure now breaks the session, and later calls rethrow it.
    case endOfStreamAfterFatalAlert = "a TLS receive after a fatal alert reports a clean end of stream"
    /// `sendCloseNotify` while a TLS send of more than 64 KiB is under way (suspended in its
    /// transport write) is not refused: close_notify goes out between the send's records, the
    /// peer sees a clean end of stream after the first 64 KiB, and the send then fails with
    /// `.tlsFailure` ("protocol is shutdown").
    case closeNotifyDuringSend = "close_notify sent in the middle of a TLS send truncates it cleanly"
    /// A send on a broken TLS session (an earlier transport write failed, or, since c65a20f, a
    /// receive failed) rethrows the stored error as it was, so its `bytesTransferred` is `nil`;
    /// the documentation of `sendAll` promises it is set (here it would be 0).
    case brokenSendWithoutBytesTransferred = "a send on a broken TLS session throws without bytesTransferred"

    func report(_ detail: String) {
        #if RINGIO_FUZZ_STRICT
        violated("known issue: \(rawValue) (\(detail))")
        #endif
    }
}
