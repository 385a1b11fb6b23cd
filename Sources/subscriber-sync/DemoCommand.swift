import ArgumentParser
import Foundation
import Logging
import SubscriberSyncDemo

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Show the whole product on loopback: a simulated Tencent, the service, lossy callbacks, and a reconcile that repairs the drift."
    )

    @Option(help: "Subscribers the simulated Official Account starts with.")
    var subscribers = 3000

    func validate() throws {
        guard (1...1_000_000).contains(subscribers) else { throw ValidationError("--subscribers must be 1 to 1000000") }
    }

    func run() async throws {
        let logger = Logging.bootstrap(level: "warning")
        let directory = NSTemporaryDirectory() + "subscriber-sync-demo-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let summary = try await DemoScenario(subscribers: subscribers, logger: logger, output: { print($0) }).run(directory: directory)
        print("== summary")
        print("   simulated account: \(summary.subscribersAtStart) subscribers at start")
        print("   callbacks: \(summary.callbacksSent) delivered, \(summary.callbacksDropped) lost, \(summary.callbacksDuplicated) duplicated, \(summary.callbacksReordered) out of order")
        for (index, report) in summary.reports.enumerated() {
            print("   pass \(index + 1): \(report.outcome.rawValue), +\(report.added) -\(report.removed) ~\(report.updated)")
        }
        print("   events shown: \(summary.eventsShown)")
        print("   store matches Tencent: \(summary.storeMatchesTencent ? "yes" : "NO \(summary.mismatch)")")
        if !summary.storeMatchesTencent { throw ExitCode(1) }
    }
}
