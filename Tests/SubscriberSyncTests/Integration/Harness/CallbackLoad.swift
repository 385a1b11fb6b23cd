/// Looping clients that keep a service busy (crash, shutdown and export under load).
enum CallbackLoad {
    /// `clients` concurrent loops, each posting signed AfterAddSubscriber callbacks for new, unique
    /// subscribers ("<prefix>c<client>-<n>") until `recorder.stop()`. Connection errors are counted
    /// and tolerated (the service may be killed under them).
    static func run(callbacks: CallbackClient, clients: Int, prefix: String, recorder: LoadRecorder,
                    account: String = IntegrationDefaults.account) async {
        await run(target: { _ in callbacks }, clients: clients, prefix: prefix, recorder: recorder, account: account)
    }

    /// The same, with request `n` going to `target(n)`: a load balancer in front of replicas.
    static func run(target: @escaping @Sendable (Int) -> CallbackClient, clients: Int, prefix: String, recorder: LoadRecorder,
                    account: String = IntegrationDefaults.account) async {
        await withTaskGroup(of: Void.self) { group in
            for client in 0..<clients {
                group.addTask {
                    var n = 0
                    while !recorder.stopRequested.load(ordering: .relaxed) {
                        n += 1
                        let subscriber = "\(prefix)c\(client)-\(n)"
                        recorder.attempts.add(1, ordering: .relaxed)
                        do {
                            let reply = try await target(client + n).subscribe(account: account, [subscriber],
                                                                      eventTime: IntegrationDefaults.baseEventTime + Int64(n),
                                                                      timeout: .seconds(10))
                            if reply.isOK {
                                recorder.acknowledged.withLock { $0.append(subscriber) }
                            } else {
                                recorder.refused(status: reply.status)
                            }
                        } catch {
                            recorder.connectionErrors.add(1, ordering: .relaxed)
                            // Pacing, not waiting: a client that cannot connect does not spin.
                            try? await Task.sleep(for: .milliseconds(10))
                        }
                    }
                }
            }
        }
    }
}

