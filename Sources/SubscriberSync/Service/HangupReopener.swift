import ServiceLifecycle
import UnixSignals

/// Reopens the event file on SIGHUP, the `postrotate` step of a logrotate `create` configuration.
struct HangupReopener: Service {
    let emitter: EventEmitter

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        for await _ in hangups.cancelOnGracefulShutdown() {
            emitter.requestReopen()
        }
    }
}
