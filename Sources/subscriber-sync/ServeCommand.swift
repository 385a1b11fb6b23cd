#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import SubscriberSync

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Receive Tencent callbacks, keep the subscriber store, and emit events."
    )

    @OptionGroup var options: CommonOptions

    @Flag(help: "Validate the configuration and exit (0 when valid).")
    var checkConfig = false

    func run() async throws {
        // logrotate may send SIGHUP before the reopen handler is installed (the database opens
        // first); the default action would kill the service.
        signal(SIGHUP, SIG_IGN)
        let settings = try await options.settings()
        if checkConfig {
            for warning in settings.warnings {
                FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
            }
            print("configuration is valid")
            return
        }
        let logger = Logging.bootstrap(level: settings.logLevel, format: settings.logFormat, warnings: settings.warnings)
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Receipt to delivery spans milliseconds (a live target) to a day (retries up to --forward-max-age).
        factory.durationHistogramBuckets[ForwardMetricNames.delay] = [
            .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(30),
            .seconds(60), .seconds(300), .seconds(1_800), .seconds(3_600), .seconds(21_600), .seconds(86_400),
        ]
        MetricsSystem.bootstrap(factory)
        let app = SubscriberSyncApp(settings: settings, logger: logger, metrics: registry)
        try await app.run()
    }
}
