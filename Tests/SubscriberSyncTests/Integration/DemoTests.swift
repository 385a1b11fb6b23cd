import Foundation
import Testing

/// `subscriber-sync demo` end to end, as the README's quick start runs it.
@Suite("Integration: demo", .timeLimit(.minutes(5)))
struct IntegrationDemoTests {
    @Test("the demo repairs lost, duplicated and reordered callbacks and exits 0")
    func demoRunsGreen() async throws {
        let run = try await SubscriberSyncExecutable.run(["demo", "--subscribers", "1500"], timeout: .seconds(50))
        let output = run.stdout
        let errors = run.stderr
        #expect(run.exit == .exited(0), "stderr:\n\(errors)\nstdout:\n\(output)")
        #expect(output.contains("store matches Tencent: yes"), "\(output)")
        #expect(output.contains("pass 2: completed, +2 -0 ~1"), "lost subscribes and the changed field repaired: \(output)")
        #expect(output.contains("pass 3: completed, +0 -2 ~0"), "lost unsubscribes removed after two listings: \(output)")
        let events = output.split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(events.count == 12)
        for line in events {
            let json = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(json["specversion"] as? String == "1.0")
        }
        #expect(!errors.contains("error"), "\(errors)")
    }
}
